/**
 * Ansible's YAML inventory: top-level keys are groups (usually just `all`), each
 * with optional `hosts` (host pattern → variables), `children` (group name →
 * group) and `vars`. Read as YAML 1.1, as Ansible's PyYAML reads it, so `yes` is
 * a boolean and `0755` an octal number.
 *
 * Unlike Ansible, which warns and skips, an unknown key in a group is an error:
 * a misspelt `host:` would otherwise silently drop every host under it.
 */
import type { Document, Node, ParsedNode, ScalarTag } from 'yaml';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

import { groupNameSchema } from '../validate';
import type { AnsibleContext, AnsibleDraft } from './ansible';
import {
  acceptVars,
  addChild,
  addHost,
  emptyDraft,
  ensureGroup,
  expandHostPattern,
  hostNameProblem,
  HostEntryError,
  VaultValue,
} from './ansible';
import type { Place } from './errors';

/** Ansible's own tags: `!vault` values are recognised (to be dropped), `!unsafe` ones are plain strings. */
const ANSIBLE_TAGS: ScalarTag[] = [
  { tag: '!vault', resolve: () => new VaultValue() },
  { tag: '!unsafe', resolve: (value: string) => value },
];

function kindOf(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'nothing' : JSON.stringify(node.value);
  return 'nothing';
}

function isEmpty(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

class YamlInventoryReader {
  private readonly draft = emptyDraft();

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly ctx: AnsibleContext,
  ) {
    ensureGroup(this.draft, 'all', { line: 1 });
    ensureGroup(this.draft, 'ungrouped', { line: 1 });
  }

  read(): AnsibleDraft {
    const root = this.doc.contents;
    if (isEmpty(root)) return this.draft;
    if (!isMap(root)) {
      this.problem(`expected a mapping of group names at the top level, received ${kindOf(root)}`, root);
      return this.draft;
    }
    for (const pair of root.items) {
      const name = this.name(pair.key);
      if (name !== undefined) this.group(name, pair.value, pair.key);
    }
    return this.draft;
  }

  private place(node: unknown): Place {
    const range = (node as Partial<ParsedNode> | null)?.range;
    return range ? this.lines.linePos(range[0]) : { line: 1 };
  }

  private problem(message: string, node: unknown): void {
    this.ctx.problems.push({ message, place: this.place(node) });
  }

  /** A mapping key as text; complex keys are refused. */
  private name(key: unknown): string | undefined {
    const value = isScalar(key) ? key.value : undefined;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      return String(value);
    this.problem(`expected a name as the key, received ${kindOf(key)}`, key);
    return undefined;
  }

  /** Declares (or extends) a group; returns false when its name is invalid. */
  private group(name: string, node: unknown, at: unknown): boolean {
    const invalid = groupNameSchema.safeParse(name).error?.issues[0]?.message;
    if (invalid) {
      this.problem(invalid, at);
      return false;
    }
    ensureGroup(this.draft, name, this.place(at));
    if (isEmpty(node)) return true;
    if (!isMap(node)) {
      this.problem(
        `group "${name}": expected a mapping with hosts, children or vars, received ${kindOf(node)}`,
        node,
      );
      return true;
    }

    for (const pair of node.items) {
      const key = this.name(pair.key);
      if (key === 'hosts') this.hosts(name, pair.value);
      else if (key === 'children') this.children(name, pair.value);
      else if (key === 'vars') this.groupVars(name, pair.value);
      else if (key !== undefined) {
        this.problem(`unknown key "${key}" in group "${name}"; expected hosts, children or vars`, pair.key);
      }
    }
    return true;
  }

  /** Each entry's key and value; a bare string stands for one entry without a value, as Ansible allows. */
  private entries(node: unknown, what: string, owner: string): { key: unknown; value: unknown }[] {
    if (isEmpty(node)) return [];
    if (isScalar(node) && typeof node.value === 'string') return [{ key: node, value: null }];
    if (isMap(node)) return node.items;
    this.problem(
      `group "${owner}": expected ${what} as a mapping (name followed by ":"), received ${kindOf(node)}`,
      node,
    );
    return [];
  }

  private vars(node: unknown, owner: string): Record<string, unknown> {
    if (isEmpty(node)) return {};
    if (!isMap(node)) {
      this.problem(`${owner}: expected a mapping of variables, received ${kindOf(node)}`, node);
      return {};
    }
    const vars: Record<string, unknown> = {};
    const places = new Map<string, Place>();
    for (const pair of node.items) {
      const key = this.name(pair.key);
      if (key === undefined) continue;
      vars[key] = isEmpty(pair.value) ? null : (pair.value as Node).toJS(this.doc);
      places.set(key, this.place(pair.key));
    }
    return acceptVars(vars, (key) => places.get(key) ?? this.place(node), this.ctx);
  }

  private hosts(group: string, node: unknown): void {
    for (const { key, value } of this.entries(node, 'hosts', group)) {
      const pattern = this.name(key);
      if (pattern === undefined) continue;
      let expansion: ReturnType<typeof expandHostPattern>;
      try {
        expansion = expandHostPattern(pattern);
      } catch (err) {
        if (!(err instanceof HostEntryError)) throw err;
        this.problem(err.message, key);
        continue;
      }

      const own = this.vars(value, `host "${pattern}"`);
      const vars = expansion.port === undefined ? own : { ansible_port: expansion.port, ...own };
      const invalid = expansion.names.map(hostNameProblem).find((problem) => problem !== undefined);
      if (invalid) {
        this.problem(invalid, key);
        continue;
      }
      for (const name of expansion.names) addHost(this.draft, group, name, vars, this.place(key));
    }
  }

  private children(group: string, node: unknown): void {
    for (const { key, value } of this.entries(node, 'children', group)) {
      const child = this.name(key);
      if (child === undefined) continue;
      if (child === 'all') {
        this.problem('"all" holds every group and cannot be a child', key);
        continue;
      }
      if (this.group(child, value, key)) addChild(this.draft, group, child, this.place(key));
    }
  }

  private groupVars(group: string, node: unknown): void {
    Object.assign(
      ensureGroup(this.draft, group, this.place(node)).vars,
      this.vars(node, `group "${group}" vars`),
    );
  }
}

/** Reads an Ansible YAML inventory; problems (with line and column) and warnings go to `ctx`. */
export function parseAnsibleYaml(text: string, ctx: AnsibleContext): AnsibleDraft {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.1',
    lineCounter: lines,
    customTags: ANSIBLE_TAGS,
    prettyErrors: false,
  });
  for (const error of doc.errors) {
    ctx.problems.push({ message: `invalid YAML: ${error.message}`, place: lines.linePos(error.pos[0]) });
  }
  for (const warning of doc.warnings) {
    const { line, col } = lines.linePos(warning.pos[0]);
    ctx.warnings.push(`${ctx.file}:${line}:${col}: ${warning.message}`);
  }
  if (doc.errors.length > 0) return emptyDraft();
  return new YamlInventoryReader(doc, lines, ctx).read();
}
