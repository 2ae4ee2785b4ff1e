/** Errors of the inventory layer, and how a problem is placed in its file. */

/** A 1-based position in an inventory file; `col` is absent when only the line is known. */
export interface Place {
  line: number;
  col?: number;
}

/** A key or list index on the way from the document root to a value. */
export type PathSegment = string | number;

/** One thing wrong with an inventory, before it is rendered as a message line. */
export interface Problem {
  message: string;
  place?: Place;
  /** Set for schema problems, where the dotted path says more than a line number. */
  path?: PathSegment[];
}

/** A message shows this many problems; `problems` keeps them all. */
const SHOWN_PROBLEMS = 50;

/**
 * A malformed inventory. The message has one line per problem, each naming the
 * file, the place (`file:line:col`, a dotted path, or both) and what was expected.
 */
export class InventoryError extends Error {
  override readonly name = 'InventoryError';

  constructor(
    /** The file as given to the loader, or `inline inventory` for a document without one. */
    readonly file: string,
    /** Rendered problem lines, in file order. */
    readonly problems: string[],
  ) {
    super(summarize(problems));
  }
}

function summarize(problems: string[]): string {
  if (problems.length <= SHOWN_PROBLEMS) return problems.join('\n');
  const hidden = problems.length - SHOWN_PROBLEMS;
  return [...problems.slice(0, SHOWN_PROBLEMS), `… and ${hidden} more problems`].join('\n');
}

/**
 * An invalid host pattern, or a valid one that selects nothing. `problems` is
 * empty in the second case; `unmatched` lists the terms that matched no host or group.
 */
export class HostPatternError extends Error {
  override readonly name = 'HostPatternError';

  constructor(
    message: string,
    readonly pattern: string,
    readonly problems: string[] = [],
    readonly unmatched: string[] = [],
  ) {
    super(message);
  }
}

/** `hosts["web1.example.com"].port`: plain keys dotted, others quoted so the path stays unambiguous. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** `file:line:col: path: message`, leaving out what is not known. */
export function renderProblem(file: string, problem: Problem): string {
  const { place, path, message } = problem;
  let where = file;
  if (place) where += place.col === undefined ? `:${place.line}` : `:${place.line}:${place.col}`;
  if (path && path.length > 0) where += `: ${formatPath(path)}`;
  return `${where}: ${message}`;
}

function byPlace(a: Problem, b: Problem): number {
  return (a.place?.line ?? 0) - (b.place?.line ?? 0) || (a.place?.col ?? 0) - (b.place?.col ?? 0);
}

/** The error for a non-empty list of problems, in file order when every problem has a place. */
export function inventoryError(file: string, problems: readonly Problem[]): InventoryError {
  const ordered = problems.every((p) => p.place) ? [...problems].sort(byPlace) : problems;
  return new InventoryError(
    file,
    ordered.map((problem) => renderProblem(file, problem)),
  );
}

/** Throws an {@link InventoryError} when there is any problem; otherwise does nothing. */
export function throwIfProblems(file: string, problems: readonly Problem[]): void {
  if (problems.length > 0) throw inventoryError(file, problems);
}
