/**
 * Ansible's INI inventory dialect, parsed by hand: no INI parser on npm reads it,
 * because a host line is not `key = value` but a host pattern followed by
 * shell-like `key=value` words (quotes, escapes, `#` comments), section headers
 * carry a `:children` or `:vars` kind, and values are Python literals.
 *
 * As in Ansible: lines before any header belong to `ungrouped`; a group is
 * declared by `[name]` or `[name:children]`, and `[name:vars]` or a `:children`
 * entry for a group that is never declared is an error; values on host lines and
 * in `:vars` are read as Python literals (`22` is a number, `True` a boolean,
 * `"1.10"` on a host line the number 1.1, since the quotes are shell quotes),
 * everything else stays a string.
 */
import { describeValue, groupNameSchema } from '../validate';
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
} from './ansible';
import type { Place } from './errors';
import { parsePythonValue } from './python-literal';
import { ShellWordsError, splitShellWords } from './shlex';

const HEADER = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_LINE = /^([^:\]\s]+)\s*(?:#.*)?$/;

type Section = 'hosts' | 'children' | 'vars' | 'skip';

const undeclared = (group: string): string => `no [${group}] or [${group}:children] section declares`;

interface Line {
  text: string;
  /** Place of the character at `offset` in `text`. */
  at: (offset: number) => Place;
}

class IniParser {
  private readonly draft = emptyDraft();
  private readonly declared = new Set(['all', 'ungrouped']);
  /** Groups mentioned before being declared, with the problem to report if they never are. */
  private readonly pending = new Map<string, { message: string; place: Place }>();
  private group = 'ungrouped';
  private section: Section = 'hosts';

  constructor(private readonly ctx: AnsibleContext) {
    ensureGroup(this.draft, 'all', { line: 1 });
    ensureGroup(this.draft, 'ungrouped', { line: 1 });
  }

  parse(text: string): AnsibleDraft {
    text.split(/\r?\n/).forEach((raw, index) => {
      const content = raw.trim();
      if (content === '' || content.startsWith('#') || content.startsWith(';')) return;
      const indent = raw.length - raw.trimStart().length;
      this.line({ text: content, at: (offset) => ({ line: index + 1, col: indent + offset + 1 }) });
    });
    for (const [name, problem] of this.pending) if (!this.declared.has(name)) this.ctx.problems.push(problem);
    return this.draft;
  }

  private problem(message: string, place: Place): void {
    this.ctx.problems.push({ message, place });
  }

  private line(line: Line): void {
    const header = HEADER.exec(line.text);
    if (header) return this.header(header[1] ?? '', header[2], line);
    if (line.text.startsWith('[') && line.text.replace(/\s*#.*$/, '').endsWith(']')) {
      this.section = 'skip';
      return this.problem(
        `invalid section header ${describeValue(line.text)}: ` +
          'expected [group], [group:children] or [group:vars], without spaces',
        line.at(0),
      );
    }
    if (this.section === 'hosts') this.hostLine(line);
    else if (this.section === 'children') this.childLine(line);
    else if (this.section === 'vars') this.varLine(line);
  }

  private header(name: string, kind: string | undefined, line: Line): void {
    this.section = 'skip';
    if (kind !== undefined && kind !== 'hosts' && kind !== 'children' && kind !== 'vars') {
      const kinds = `[${name}], [${name}:children] or [${name}:vars]`;
      const message = `unknown section kind "${kind}" in [${name}:${kind}]; expected ${kinds}`;
      return this.problem(message, line.at(name.length + 2));
    }
    const invalid = groupNameSchema.safeParse(name).error?.issues[0]?.message;
    if (invalid) return this.problem(invalid, line.at(1));

    ensureGroup(this.draft, name, line.at(0));
    if (kind === 'vars') {
      if (!this.declared.has(name) && !this.pending.has(name)) {
        const message = `[${name}:vars] is for a group that ${undeclared(name)}`;
        this.pending.set(name, { message, place: line.at(0) });
      }
    } else {
      this.declared.add(name);
    }
    this.group = name;
    this.section = kind ?? 'hosts';
  }

  private hostLine(line: Line): void {
    let words;
    try {
      words = splitShellWords(line.text);
    } catch (err) {
      if (!(err instanceof ShellWordsError)) throw err;
      return this.problem(`host line: ${err.message}`, line.at(err.offset));
    }
    const [first, ...rest] = words;
    if (!first) return;

    let expansion: ReturnType<typeof expandHostPattern>;
    try {
      expansion = expandHostPattern(first.text);
    } catch (err) {
      if (!(err instanceof HostEntryError)) throw err;
      return this.problem(err.message, line.at(first.start));
    }

    const vars: Record<string, unknown> = {};
    const places = new Map<string, Place>();
    if (expansion.port !== undefined) vars.ansible_port = expansion.port;
    for (const word of rest) {
      const eq = word.text.indexOf('=');
      if (eq < 0) {
        this.problem(
          `expected key=value after the host, received ${describeValue(word.text)}`,
          line.at(word.start),
        );
        continue;
      }
      const key = word.text.slice(0, eq);
      vars[key] = parsePythonValue(word.text.slice(eq + 1));
      places.set(key, line.at(word.start));
    }
    const kept = acceptVars(vars, (key) => places.get(key) ?? line.at(first.start), this.ctx);

    for (const name of expansion.names) {
      const invalid = hostNameProblem(name);
      if (invalid) return this.problem(invalid, line.at(first.start));
      addHost(this.draft, this.group, name, kept, line.at(first.start));
    }
  }

  private childLine(line: Line): void {
    const child = GROUP_LINE.exec(line.text)?.[1];
    if (child === undefined)
      return this.problem(`expected a group name, received ${describeValue(line.text)}`, line.at(0));
    const invalid = groupNameSchema.safeParse(child).error?.issues[0]?.message;
    if (invalid) return this.problem(invalid, line.at(0));
    if (child === 'all') return this.problem('"all" holds every group and cannot be a child', line.at(0));

    addChild(this.draft, this.group, child, line.at(0));
    if (!this.declared.has(child) && !this.pending.has(child)) {
      const message = `[${this.group}:children] lists "${child}", which ${undeclared(child)}`;
      this.pending.set(child, { message, place: line.at(0) });
    }
  }

  private varLine(line: Line): void {
    const eq = line.text.indexOf('=');
    if (eq < 0) return this.problem(`expected key=value, received ${describeValue(line.text)}`, line.at(0));
    const key = line.text.slice(0, eq).trim();
    const value = parsePythonValue(line.text.slice(eq + 1).trim());
    const kept = acceptVars({ [key]: value }, () => line.at(0), this.ctx);
    Object.assign(ensureGroup(this.draft, this.group, line.at(0)).vars, kept);
  }
}

/** Reads an Ansible INI inventory; problems and warnings go to `ctx`. */
export function parseAnsibleIni(text: string, ctx: AnsibleContext): AnsibleDraft {
  return new IniParser(ctx).parse(text);
}
