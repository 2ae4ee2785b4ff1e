/**
 * The one place where rollbook builds strings for a remote POSIX shell.
 *
 * Every argument is wrapped in single quotes, inside which a POSIX shell treats
 * every byte literally; an embedded single quote closes the quotes, adds an
 * escaped quote and reopens them. NUL cannot be carried by any shell word, so it
 * is refused rather than silently truncated by the remote side.
 */

export class UnquotableValueError extends Error {
  override readonly name = 'UnquotableValueError';
  constructor(readonly reason: string) {
    super(`cannot pass value to a remote shell: ${reason}`);
  }
}

/** Words made only of these characters need no quotes, which keeps commands readable in logs. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one value so that the remote shell sees it as exactly one literal word. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new UnquotableValueError('it contains a NUL byte');
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv array into one command line, quoting every word. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new UnquotableValueError('the command is empty');
  return argv.map(shellQuote).join(' ');
}

/**
 * Joins already-built command lines with a shell operator. The parts must come
 * from {@link shellCommand} or another `sh*` helper, never from raw input.
 */
export function shellJoin(operator: '&&' | '||' | ';' | '|', parts: readonly string[]): string {
  return parts.map((part) => `{ ${part}; }`).join(` ${operator} `);
}
