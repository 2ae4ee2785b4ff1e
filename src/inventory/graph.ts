/**
 * Group membership and variable precedence, shared by every inventory format.
 *
 * Precedence follows Ansible: `all`, then groups by depth (a child group after its
 * parents), then by priority and name among groups of equal depth, then the host's
 * own variables. Each later source replaces whole values (Ansible's default
 * `hash_behaviour=replace`): mappings are not merged key by key.
 */
import type { InventoryGroup } from './model';

export interface DraftGroup {
  /** Hosts listed directly in the group, in order of appearance, without repeats. */
  hosts: string[];
  children: string[];
  vars: Record<string, unknown>;
  /** Ansible's `ansible_group_priority`: among groups of equal depth, higher wins; default 1. */
  priority?: number;
}

/** Hosts and groups as a loader found them, before membership and variables are worked out. */
export interface DraftInventory {
  /** Host name to the host's own variables, in inventory order. */
  hosts: Map<string, Record<string, unknown>>;
  /** Declared groups; `all` and `ungrouped` are added when missing. */
  groups: Map<string, DraftGroup>;
}

export interface ResolvedHost {
  name: string;
  /** `all` first, then every group the host is in, directly or through children, in precedence order. */
  groups: string[];
  vars: Record<string, unknown>;
}

export interface ResolvedInventory {
  hosts: ResolvedHost[];
  groups: Record<string, InventoryGroup>;
}

/** Adds `value` to `list` unless it is there already; keeps first-seen order. */
export function pushUnique(list: string[], value: string): void {
  if (!list.includes(value)) list.push(value);
}

/**
 * A cycle in the children relation as `[a, b, ..., a]`, or undefined. Children
 * that name no group are ignored here: loaders report them on their own.
 */
export function findCycle(
  groups: ReadonlyMap<string, { children: readonly string[] }>,
): string[] | undefined {
  const done = new Set<string>();
  const onPath: string[] = [];

  const visit = (name: string): string[] | undefined => {
    const loopStart = onPath.indexOf(name);
    if (loopStart >= 0) return [...onPath.slice(loopStart), name];
    if (done.has(name)) return undefined;
    onPath.push(name);
    for (const child of groups.get(name)?.children ?? []) {
      const cycle = visit(child);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(name);
    return undefined;
  };

  for (const name of groups.keys()) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return undefined;
}

function emptyGroup(): DraftGroup {
  return { hosts: [], children: [], vars: {} };
}

/** Parents of each group, with every group that has none made a child of `all`, as Ansible does. */
function linkParents(groups: Map<string, DraftGroup>): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const name of groups.keys()) parents.set(name, []);
  for (const [name, group] of groups) {
    for (const child of group.children) parents.get(child)?.push(name);
  }

  const all = groups.get('all') ?? emptyGroup();
  for (const [name, list] of parents) {
    if (name === 'all' || list.length > 0) continue;
    pushUnique(all.children, name);
    list.push('all');
  }
  return parents;
}

/** Depth is the longest path from `all`, like Ansible's, so a group always sorts after all of its parents. */
function measureDepths(parents: Map<string, string[]>): Map<string, number> {
  const depths = new Map<string, number>([['all', 0]]);
  const depthOf = (name: string): number => {
    const known = depths.get(name);
    if (known !== undefined) return known;
    const depth = 1 + Math.max(0, ...(parents.get(name) ?? []).map(depthOf));
    depths.set(name, depth);
    return depth;
  };
  for (const name of parents.keys()) depthOf(name);
  return depths;
}

/** Ansible leaves a host in `ungrouped` only while it is in no group besides `all` and `ungrouped`. */
function placeUngrouped(draft: DraftInventory, direct: Map<string, string[]>): void {
  const ungrouped = draft.groups.get('ungrouped') ?? emptyGroup();
  for (const host of draft.hosts.keys()) {
    const own = direct.get(host) ?? [];
    const elsewhere = own.some((group) => group !== 'all' && group !== 'ungrouped');
    if (elsewhere) ungrouped.hosts = ungrouped.hosts.filter((name) => name !== host);
    else pushUnique(ungrouped.hosts, host);
  }
}

function directGroups(groups: Map<string, DraftGroup>): Map<string, string[]> {
  const direct = new Map<string, string[]>();
  for (const [name, group] of groups) {
    for (const host of group.hosts) {
      const list = direct.get(host) ?? [];
      list.push(name);
      direct.set(host, list);
    }
  }
  return direct;
}

function ancestorsOf(start: readonly string[], parents: Map<string, string[]>): Set<string> {
  const seen = new Set<string>(['all']);
  const queue = [...start];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    queue.push(...(parents.get(name) ?? []));
  }
  return seen;
}

/**
 * Works out every host's groups and variables. The children relation must be
 * acyclic (check with {@link findCycle}); children that name no group are
 * ignored. The draft's `all` and `ungrouped` groups are completed in place.
 */
export function resolveInventory(draft: DraftInventory): ResolvedInventory {
  const groups = new Map<string, DraftGroup>([
    ['all', draft.groups.get('all') ?? emptyGroup()],
    ['ungrouped', draft.groups.get('ungrouped') ?? emptyGroup()],
    ...draft.groups,
  ]);
  const complete = { hosts: draft.hosts, groups };

  placeUngrouped(complete, directGroups(groups));
  const direct = directGroups(groups);
  const parents = linkParents(groups);
  const depths = measureDepths(parents);

  const rank = (a: string, b: string): number =>
    (depths.get(a) ?? 0) - (depths.get(b) ?? 0) ||
    (groups.get(a)?.priority ?? 1) - (groups.get(b)?.priority ?? 1) ||
    (a < b ? -1 : a > b ? 1 : 0);

  const hosts = [...draft.hosts].map(([name, hostVars]): ResolvedHost => {
    const memberOf = [...ancestorsOf(direct.get(name) ?? [], parents)].sort(rank);
    const vars: Record<string, unknown> = {};
    for (const group of memberOf) Object.assign(vars, groups.get(group)?.vars);
    return { name, groups: memberOf, vars: Object.assign(vars, hostVars) };
  });

  const out: Record<string, InventoryGroup> = {};
  for (const [name, group] of groups) {
    out[name] = { name, hosts: [...group.hosts], children: [...group.children], vars: { ...group.vars } };
  }
  return { hosts, groups: out };
}
