/**
 * What the Ansible INI and YAML importers share: host ranges, `host:port`, the
 * mapping of `ansible_*` connection variables onto rollbook's host fields, and
 * the final checks.
 *
 * Mapped variables: `ansible_host` (or `ansible_ssh_host`) → address,
 * `ansible_port` (or `ansible_ssh_port`) → port, `ansible_user` (or
 * `ansible_ssh_user`) → user, `ansible_ssh_private_key_file` (or
 * `ansible_private_key_file`) → a key-file credential, and rollbook's own
 * `rollbook_credential_secret` → a named-secret credential. They are checked where
 * they are written and removed from the host's variables; every other variable,
 * `ansible_*` or not, is kept as it is. Ansible's default user is the local one;
 * rollbook's is `root`.
 *
 * Passwords (`ansible_password`, `ansible_ssh_pass`, the become/sudo/su ones) are
 * never imported: a value in the inventory would be copied into every workflow
 * history. Each one is dropped with a warning, since the same inventory usually
 * keeps working with Ansible and refusing the whole file would only get in the
 * way; the host then authenticates with its key or named secret, or the worker's
 * default credential. Values encrypted with Ansible Vault are dropped the same way.
 */
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';

import type { z } from 'zod';

import {
  describeValue,
  hostAddressSchema,
  hostNameSchema,
  isIPv6Address,
  portSchema,
  userNameSchema,
} from '../validate';
import type { Place, Problem } from './errors';
import { throwIfProblems } from './errors';
import type { DraftGroup } from './graph';
import { findCycle, pushUnique, resolveInventory } from './graph';
import type { Credential, InventoryHost, LoadedInventory } from './model';
import { secretNameSchema } from './schema';

/** A value tagged `!vault` in Ansible YAML: kept only to be recognised and dropped. */
export class VaultValue {}

/** A range can expand to at most this many hosts, so a typo like `[1:1000000]` fails fast. */
const MAX_RANGE_HOSTS = 10_000;

const PASSWORD_VARS = new Set([
  'ansible_password',
  'ansible_ssh_pass',
  'ansible_ssh_password',
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_sudo_password',
  'ansible_sudo_pass',
  'ansible_su_password',
  'ansible_su_pass',
]);

const ADDRESS_VARS = ['ansible_host', 'ansible_ssh_host'];
const PORT_VARS = ['ansible_port', 'ansible_ssh_port'];
const USER_VARS = ['ansible_user', 'ansible_ssh_user'];
const KEY_FILE_VARS = ['ansible_ssh_private_key_file', 'ansible_private_key_file'];
const SECRET_VAR = 'rollbook_credential_secret';
const CONNECTION_VARS = new Set([...ADDRESS_VARS, ...PORT_VARS, ...USER_VARS, ...KEY_FILE_VARS, SECRET_VAR]);

export interface AnsibleGroup extends DraftGroup {
  place: Place;
  /** Where each child was listed, for cycle messages. */
  childPlaces: Map<string, Place>;
}

export interface AnsibleDraft {
  /** Host name to its own variables and where it first appeared, in inventory order. */
  hosts: Map<string, { vars: Record<string, unknown>; place: Place }>;
  groups: Map<string, AnsibleGroup>;
}

/** What an importer needs besides the text: where relative key paths start, and where to report. */
export interface AnsibleContext {
  file: string;
  /** Directory that relative `ansible_ssh_private_key_file` paths are resolved against. */
  baseDir: string;
  homeDir: string;
  problems: Problem[];
  warnings: string[];
}

export function ansibleContext(file: string): AnsibleContext {
  return { file, baseDir: dirname(resolve(file)), homeDir: homedir(), problems: [], warnings: [] };
}

export function emptyDraft(): AnsibleDraft {
  return { hosts: new Map(), groups: new Map() };
}

export function ensureGroup(draft: AnsibleDraft, name: string, place: Place): AnsibleGroup {
  let group = draft.groups.get(name);
  if (!group) {
    group = { hosts: [], children: [], vars: {}, place, childPlaces: new Map() };
    draft.groups.set(name, group);
  }
  return group;
}

export function addChild(draft: AnsibleDraft, parent: string, child: string, place: Place): void {
  const group = ensureGroup(draft, parent, place);
  pushUnique(group.children, child);
  if (!group.childPlaces.has(child)) group.childPlaces.set(child, place);
}

/** Adds the host to the group, then its variables in order; later assignments win, as in Ansible. */
export function addHost(
  draft: AnsibleDraft,
  group: string,
  name: string,
  vars: Record<string, unknown>,
  place: Place,
): void {
  pushUnique(ensureGroup(draft, group, place).hosts, name);
  const host = draft.hosts.get(name) ?? { vars: {}, place };
  Object.assign(host.vars, vars);
  draft.hosts.set(name, host);
}

function firstIssue(result: { success: boolean; error?: z.ZodError }): string | undefined {
  return result.success ? undefined : (result.error?.issues[0]?.message ?? 'invalid value');
}

/** Describes a problem with a host name, with a hint for the IPv6 literals Ansible allows as names. */
export function hostNameProblem(name: string): string | undefined {
  if (isIPv6Address(name)) {
    const fix = `name the host and set ansible_host=${name}`;
    return `host name "${name}" is an IPv6 address, and host names cannot contain ":"; ${fix}`;
  }
  return firstIssue(hostNameSchema.safeParse(name));
}

/** A host entry (`web[01:03].example.com:2222`) whose ranges or port cannot be read. */
export class HostEntryError extends Error {}

/** Splits `host:port`; a `:` inside `[a:b]` ranges is not a port separator. */
function splitPort(pattern: string): { base: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(pattern);
  if (bracketed?.[1] && isIPv6Address(bracketed[1])) return { base: bracketed[1] };
  if (isIPv6Address(pattern)) return { base: pattern };

  let depth = 0;
  const colons: number[] = [];
  [...pattern].forEach((char, i) => {
    if (char === '[') depth++;
    else if (char === ']') depth--;
    else if (char === ':' && depth === 0) colons.push(i);
  });
  const colon = colons[0];
  if (colon === undefined || colons.length > 1) return { base: pattern };

  const port = pattern.slice(colon + 1);
  if (!/^[0-9]+$/.test(port)) {
    throw new HostEntryError(`expected a port number after ":" in host "${pattern}", received "${port}"`);
  }
  return { base: pattern.slice(0, colon), port: Number(port) };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The values of one `[begin:end:step]` range, as Ansible's `expand_hostname_range` computes them. */
function rangeValues(range: string): string[] {
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) {
    throw new HostEntryError(`host range "[${range}]" must be [begin:end] or [begin:end:step]`);
  }
  const [begin = '', end = '', stepText = '1'] = bounds;
  const first = begin === '' ? '0' : begin;
  if (end === '') throw new HostEntryError(`host range "[${range}]" has no end`);
  if (!/^[0-9]+$/.test(stepText) || Number(stepText) < 1) {
    throw new HostEntryError(`host range "[${range}]" needs a step that is a positive integer`);
  }
  const step = Number(stepText);

  const values: string[] = [];
  const push = (value: string): void => {
    if (values.length >= MAX_RANGE_HOSTS) {
      throw new HostEntryError(`host range "[${range}]" expands to more than ${MAX_RANGE_HOSTS} hosts`);
    }
    values.push(value);
  };

  if (/^[A-Za-z]$/.test(first) && /^[A-Za-z]$/.test(end)) {
    const from = LETTERS.indexOf(first);
    const to = LETTERS.indexOf(end);
    if (from > to) throw new HostEntryError(`host range "[${range}]" begins after its end`);
    for (let i = from; i <= to; i += step) push(LETTERS.charAt(i));
    return values;
  }
  if (!/^[0-9]+$/.test(first) || !/^[0-9]+$/.test(end)) {
    throw new HostEntryError(`host range "[${range}]" must run between two numbers or two letters`);
  }

  // A leading zero asks for zero-padded names (`[01:20]` gives 01 ... 20), so both ends must be as wide.
  const width = first.startsWith('0') && first.length > 1 ? first.length : 0;
  if (width > 0 && end.length !== width) {
    throw new HostEntryError(
      `host range "[${range}]" is zero-padded, so its begin and end need the same width`,
    );
  }
  const from = Number(first);
  const to = Number(end);
  if (from > to) throw new HostEntryError(`host range "[${range}]" begins after its end`);
  for (let i = from; i <= to; i += step) push(String(i).padStart(width, '0'));
  return values;
}

/** Expands every `[...]` range in a host name, left to right, into `out`; other names are kept. */
function expandRanges(name: string, out: string[]): void {
  const open = name.indexOf('[');
  if (open < 0) {
    if (name.includes(']')) throw new HostEntryError(`host "${name}" has a "]" without a "["`);
    if (out.length >= MAX_RANGE_HOSTS)
      throw new HostEntryError(`host ranges expand to more than ${MAX_RANGE_HOSTS} hosts`);
    out.push(name);
    return;
  }
  const close = name.indexOf(']', open);
  if (close < 0) throw new HostEntryError(`host range in "${name}" has no closing "]"`);

  const head = name.slice(0, open);
  const tail = name.slice(close + 1);
  for (const value of rangeValues(name.slice(open + 1, close))) expandRanges(`${head}${value}${tail}`, out);
}

/** `web[01:03].example.com:2222` → three names and port 2222. Throws {@link HostEntryError}. */
export function expandHostPattern(pattern: string): { names: string[]; port?: number } {
  const { base, port } = splitPort(pattern);
  if (isIPv6Address(base)) return { names: [base], port };
  const names: string[] = [];
  expandRanges(base, names);
  return { names, port };
}

function where(ctx: AnsibleContext, place: Place): string {
  return place.col === undefined ? `${ctx.file}:${place.line}` : `${ctx.file}:${place.line}:${place.col}`;
}

const DROP = Symbol('drop');

/** Rejects templates with a message that says so; a bare schema message would only say "expected". */
function checkWith(schema: z.ZodType, key: string, value: unknown): string | undefined {
  if (typeof value === 'string' && value.includes('{{')) {
    return `${key}: rollbook does not evaluate Jinja templates, received ${describeValue(value)}`;
  }
  const problem = firstIssue(schema.safeParse(value));
  return problem === undefined ? undefined : `${key}: ${problem}`;
}

function keyFilePath(value: unknown, ctx: AnsibleContext): string | { problem: string } {
  if (typeof value !== 'string' || value === '')
    return { problem: `expected a key file path, received ${describeValue(value)}` };
  if (value.includes('{{'))
    return { problem: `rollbook does not evaluate Jinja templates, received ${describeValue(value)}` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value))
    return { problem: `expected a path without control characters, received ${describeValue(value)}` };
  if (value === '~' || value.startsWith('~/')) return join(ctx.homeDir, value.slice(1));
  if (value.startsWith('~')) {
    // Node cannot look up another user's home directory, so `~bob/` is refused rather than guessed.
    const prefix = value.split('/')[0] ?? value;
    const problem = `cannot expand "${prefix}": only "~/" (the current user's home) is expanded; use an absolute path`;
    return { problem };
  }
  return isAbsolute(value) ? value : resolve(ctx.baseDir, value);
}

/**
 * Checks one variable where it is written. Returns the value to keep (a port as
 * a number, a key path made absolute) or DROP, after adding a problem or warning.
 */
function acceptVar(key: string, value: unknown, place: Place, ctx: AnsibleContext): unknown {
  if (PASSWORD_VARS.has(key)) {
    ctx.warnings.push(
      `${where(ctx, place)}: ${key} ignored: rollbook never copies a password into an inventory; ` +
        `store it as a worker secret and set ${SECRET_VAR}=<name> instead`,
    );
    return DROP;
  }
  if (value instanceof VaultValue) {
    ctx.warnings.push(
      `${where(ctx, place)}: ${key} ignored: it is encrypted with Ansible Vault, ` +
        'which rollbook does not decrypt',
    );
    return DROP;
  }

  let problem: string | undefined;
  let accepted = value;
  if (ADDRESS_VARS.includes(key)) problem = checkWith(hostAddressSchema, key, value);
  else if (USER_VARS.includes(key)) problem = checkWith(userNameSchema, key, value);
  else if (key === SECRET_VAR) problem = checkWith(secretNameSchema, key, value);
  else if (PORT_VARS.includes(key)) {
    // INI values arrive as numbers already; YAML may quote them.
    accepted = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
    problem = checkWith(portSchema, key, accepted);
  } else if (KEY_FILE_VARS.includes(key)) {
    const path = keyFilePath(value, ctx);
    if (typeof path === 'string') accepted = path;
    else problem = `${key}: ${path.problem}`;
  }

  if (problem === undefined) return accepted;
  ctx.problems.push({ message: problem, place });
  return DROP;
}

/** Checks variables written at one place, keeping those that pass. */
export function acceptVars(
  vars: Record<string, unknown>,
  places: (key: string) => Place,
  ctx: AnsibleContext,
): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(vars)) {
    if (key === '') {
      ctx.problems.push({ message: 'expected a variable name before "="', place: places(key) });
      continue;
    }
    const accepted = acceptVar(key, value, places(key), ctx);
    if (accepted !== DROP) kept[key] = accepted;
  }
  return kept;
}

/** Where a host's variables come from, least specific first: its groups in precedence order, then itself. */
interface Source {
  label: string;
  vars: Record<string, unknown>;
}

/** The value of the first of `keys` set by the most specific source, as variable precedence would pick it. */
function pick(
  sources: readonly Source[],
  keys: readonly string[],
): { value: unknown; source: Source } | undefined {
  for (const source of [...sources].reverse()) {
    for (const key of keys) if (source.vars[key] !== undefined) return { value: source.vars[key], source };
  }
  return undefined;
}

/**
 * A key file and a named secret both name a credential, so the more specific one
 * wins, like any variable: a key in `[all:vars]` and a secret on one host line
 * give that host the secret. Both from the same place is a mistake.
 */
function credentialOf(
  name: string,
  sources: readonly Source[],
  place: Place,
  ctx: AnsibleContext,
): Credential | undefined {
  const chosen = pick(sources, [...KEY_FILE_VARS, SECRET_VAR]);
  if (!chosen) return undefined;
  const { vars, label } = chosen.source;
  const keyFile = pick([chosen.source], KEY_FILE_VARS)?.value;
  const secret = vars[SECRET_VAR];
  if (keyFile !== undefined && secret !== undefined) {
    ctx.problems.push({
      message: `host "${name}" gets both a private key file and ${SECRET_VAR} from ${label}; keep one`,
      place,
    });
  }
  return typeof keyFile === 'string'
    ? { type: 'key-file', path: keyFile }
    : { type: 'secret', name: String(secret) };
}

function connectionOf(
  name: string,
  vars: Record<string, unknown>,
  sources: readonly Source[],
  place: Place,
  ctx: AnsibleContext,
): Omit<InventoryHost, 'groups'> {
  const address = pick(sources, ADDRESS_VARS)?.value as string | undefined;
  if (address === undefined && firstIssue(hostAddressSchema.safeParse(name))) {
    const message = `host "${name}" has no ansible_host and its name is not a DNS name or IP address`;
    ctx.problems.push({ message, place });
  }
  const credential = credentialOf(name, sources, place, ctx);

  const hostVars = Object.fromEntries(Object.entries(vars).filter(([key]) => !CONNECTION_VARS.has(key)));
  return {
    name,
    address: address ?? name,
    port: (pick(sources, PORT_VARS)?.value as number | undefined) ?? 22,
    user: (pick(sources, USER_VARS)?.value as string | undefined) ?? 'root',
    ...(credential ? { credential } : {}),
    vars: hostVars,
  };
}

function checkGraph(draft: AnsibleDraft, ctx: AnsibleContext): boolean {
  const cycle = findCycle(draft.groups);
  // Reported where the edge that closes the cycle is written.
  const [parent, child] = cycle?.slice(-2) ?? [];
  if (cycle && parent !== undefined && child !== undefined) {
    const place = draft.groups.get(parent)?.childPlaces.get(child) ?? { line: 1 };
    ctx.problems.push({ message: `groups form a cycle: ${cycle.join(' -> ')}`, place });
  }
  for (const [name, host] of draft.hosts) {
    if (draft.groups.has(name)) {
      ctx.problems.push({
        message: `"${name}" names both a host and a group; rename one of them`,
        place: host.place,
      });
    }
  }
  return cycle === undefined;
}

/** Resolves groups and variables and maps connection variables; throws InventoryError on any problem. */
export function buildAnsibleInventory(draft: AnsibleDraft, ctx: AnsibleContext): LoadedInventory {
  for (const group of draft.groups.values()) {
    const priority = group.vars.ansible_group_priority;
    if (typeof priority === 'number') group.priority = priority;
  }
  if (!checkGraph(draft, ctx)) throwIfProblems(ctx.file, ctx.problems);

  const hostVars = new Map([...draft.hosts].map(([name, host]) => [name, host.vars]));
  const resolved = resolveInventory({ hosts: hostVars, groups: draft.groups });
  const hosts: Record<string, InventoryHost> = {};
  for (const host of resolved.hosts) {
    const own = draft.hosts.get(host.name) ?? { vars: {}, place: { line: 1 } };
    const sources: Source[] = [
      ...host.groups.map((group) => ({
        label: `group "${group}"`,
        vars: draft.groups.get(group)?.vars ?? {},
      })),
      { label: 'its own variables', vars: own.vars },
    ];
    const connection = connectionOf(host.name, host.vars, sources, own.place, ctx);
    hosts[host.name] = { ...connection, groups: host.groups };
  }

  throwIfProblems(ctx.file, ctx.problems);
  return { hosts, groups: resolved.groups, warnings: ctx.warnings };
}
