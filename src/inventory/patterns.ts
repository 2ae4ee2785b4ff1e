/**
 * Host patterns as Ansible's `--limit` takes them.
 *
 * A pattern is a list of terms separated by `:` or `,` (union); a term prefixed
 * with `&` intersects and one prefixed with `!` excludes. As in Ansible, unions
 * are applied first, then intersections, then exclusions, whatever their order in
 * the pattern, and a pattern of only `&`/`!` terms starts from `all`.
 *
 * A term is `all` or `*`, a group name (every host in the group or its
 * children), a host name, a glob with `*` and `?`, or a JavaScript regular
 * expression after `~`, anchored at the start of the name as Ansible anchors its
 * Python ones. Globs and regexes match group names and host names alike.
 *
 * Terms match inventory names only, never addresses, and no name may contain
 * `:`, so an IPv6 address cannot be confused with separators: it is refused with
 * a message saying so. Unlike Ansible, `&` and `!` also start a new term in the
 * middle of one (`web&db` is `web:&db`), a `,` does not turn `:` into part of a
 * name, and Ansible's `group[0:2]` subscripts are not supported. A regex
 * therefore cannot contain `:`, `,`, `&` or `!`.
 */
import { isIPv6Address } from '../validate';
import { HostPatternError } from './errors';
import type { Inventory, InventoryHost } from './model';

type Operator = 'union' | 'intersection' | 'exclusion';

interface Term {
  operator: Operator;
  text: string;
  /** 0-based offset of the term's first character in the pattern. */
  start: number;
}

const NAME_CHARS = /[A-Za-z0-9._-]/;
const GLOB_CHARS = /[*?]/;
const SEPARATORS = /[,:&!]/;
/** Allowed only after `~`, where they are regular-expression syntax. */
const REGEX_CHARS = /[\\^$()|+{}[\]~]/;

function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** Splits the pattern into terms, reporting empty terms and doubled operators. */
function splitTerms(pattern: string, problems: string[]): Term[] {
  const terms: Term[] = [];
  let current: Term = { operator: 'union', text: '', start: 0 };

  const finish = (): void => {
    if (current.text !== '') terms.push(current);
    else if (current.start >= pattern.length) problems.push('empty term at the end of the pattern');
    else problems.push(`empty term at character ${current.start + 1}`);
  };

  for (let i = 0; i < pattern.length; i++) {
    const char = pattern.charAt(i);
    if (char === ',' || char === ':') {
      finish();
      current = { operator: 'union', text: '', start: i + 1 };
    } else if (char === '&' || char === '!') {
      if (current.text !== '') finish();
      else if (current.operator !== 'union') problems.push(`two operators in a row at character ${i + 1}`);
      current = { operator: char === '&' ? 'intersection' : 'exclusion', text: '', start: i + 1 };
    } else {
      current.text += char;
    }
  }
  finish();
  return terms;
}

function checkCharacters(pattern: string, problems: string[]): void {
  const reported = new Set<string>();
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern.charAt(i);
    const allowed =
      NAME_CHARS.test(char) || GLOB_CHARS.test(char) || SEPARATORS.test(char) || REGEX_CHARS.test(char);
    if (allowed || reported.has(char)) continue;
    reported.add(char);
    problems.push(`character ${JSON.stringify(char)} at ${i + 1} cannot appear in a host pattern`);
  }
}

function checkTerm(term: Term, problems: string[]): void {
  if (!term.text.startsWith('~')) {
    const misplaced = [...term.text].find((char) => REGEX_CHARS.test(char));
    if (misplaced !== undefined) {
      problems.push(
        `character ${JSON.stringify(misplaced)} in term ${show(term.text)} is allowed only in a ~regex term`,
      );
    }
    return;
  }
  const body = term.text.slice(1);
  if (body === '') {
    problems.push(`term at character ${term.start + 1} is an empty regular expression`);
    return;
  }
  try {
    new RegExp(body);
  } catch (err) {
    problems.push(`term ${show(term.text)} is not a valid regular expression: ${(err as Error).message}`);
  }
}

function parsePattern(pattern: string): { terms: Term[]; problems: string[] } {
  if (pattern.trim() === '') return { terms: [], problems: ['the pattern is empty'] };
  if (isIPv6Address(pattern)) {
    return { terms: [], problems: ['it is an IPv6 address; patterns match inventory names, not addresses'] };
  }

  const problems: string[] = [];
  checkCharacters(pattern, problems);
  const terms = splitTerms(pattern, problems);
  if (problems.length === 0) terms.forEach((term) => checkTerm(term, problems));
  return { terms, problems };
}

/** Problems with a host pattern, found without an inventory; empty when the pattern is well formed. */
export function validateHostPattern(pattern: string): string[] {
  return parsePattern(pattern).problems;
}

function globToRegExp(glob: string): RegExp {
  const source = [...glob]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** Which hosts each group holds, directly or through its children. */
function membersByGroup(hosts: readonly InventoryHost[]): Map<string, string[]> {
  const members = new Map<string, string[]>();
  for (const host of hosts) {
    for (const group of host.groups) members.set(group, [...(members.get(group) ?? []), host.name]);
  }
  return members;
}

function matchTerm(text: string, inventory: Inventory, members: Map<string, string[]>): Set<string> {
  if (text === 'all' || text === '*') return new Set(Object.keys(inventory.hosts));

  let test: (name: string) => boolean;
  if (text.startsWith('~')) {
    const regex = new RegExp(`^(?:${text.slice(1)})`);
    test = (name) => regex.test(name);
  } else if (GLOB_CHARS.test(text)) {
    const regex = globToRegExp(text);
    test = (name) => regex.test(name);
  } else {
    test = (name) => name === text;
  }

  const matched = new Set<string>();
  for (const [group, hosts] of members) if (test(group)) hosts.forEach((host) => matched.add(host));
  for (const name of Object.keys(inventory.hosts)) if (test(name)) matched.add(name);
  return matched;
}

/**
 * The hosts a pattern selects, in inventory order and without repeats. Throws
 * {@link HostPatternError} for a malformed pattern, and for one that selects no
 * host, since an empty selection is almost always a typo that an operator would
 * rather hear about than have a run do nothing.
 */
export function selectHosts(inventory: Inventory, pattern: string): InventoryHost[] {
  const { terms, problems } = parsePattern(pattern);
  if (problems.length > 0) {
    const lines = problems.map((problem) => `invalid host pattern ${show(pattern)}: ${problem}`);
    throw new HostPatternError(lines.join('\n'), pattern, problems);
  }

  const hosts = Object.values(inventory.hosts);
  const members = membersByGroup(hosts);
  const unmatched: string[] = [];
  const matches = (term: Term): Set<string> => {
    const found = matchTerm(term.text, inventory, members);
    if (found.size === 0) unmatched.push(term.text);
    return found;
  };

  const unions = terms.filter((term) => term.operator === 'union');
  let selected =
    unions.length > 0
      ? new Set(unions.flatMap((term) => [...matches(term)]))
      : matches({ operator: 'union', text: 'all', start: 0 });
  for (const term of terms.filter((t) => t.operator === 'intersection')) {
    const found = matches(term);
    selected = new Set([...selected].filter((name) => found.has(name)));
  }
  for (const term of terms.filter((t) => t.operator === 'exclusion')) {
    const found = matches(term);
    selected = new Set([...selected].filter((name) => !found.has(name)));
  }

  const result = hosts.filter((host) => selected.has(host.name));
  if (result.length > 0) return result;
  const detail = unmatched.length > 0 ? `; no host or group matches ${unmatched.map(show).join(', ')}` : '';
  throw new HostPatternError(`pattern ${show(pattern)} matches no host${detail}`, pattern, [], unmatched);
}
