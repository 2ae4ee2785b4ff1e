/**
 * `--set chapter.key=value` options: each sets one parameter of one chapter.
 * Values are JSON when they parse as JSON (numbers, booleans, arrays, objects),
 * otherwise plain strings; `@path` reads the value from a file (for signing keys).
 */
import { readFileSync } from 'node:fs';

export type ChapterParams = Record<string, Record<string, unknown>>;

function parseValue(raw: string): unknown {
  if (raw.startsWith('@')) return readFileSync(raw.slice(1), 'utf8');
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  const [key, ...rest] = keys as [string, ...string[]];
  if (rest.length === 0) {
    target[key] = value;
    return;
  }
  const child = target[key];
  const next = typeof child === 'object' && child !== null ? (child as Record<string, unknown>) : {};
  target[key] = next;
  setPath(next, rest, value);
}

/** Applies `--set` options to per-chapter parameters; returns problems instead of throwing. */
export function applySets(
  sets: readonly string[],
  chapters: readonly string[],
): { params: ChapterParams; problems: string[] } {
  const params: ChapterParams = Object.fromEntries(chapters.map((c) => [c, {}]));
  const problems: string[] = [];
  for (const set of sets) {
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)=(.*)$/s.exec(set);
    if (!match) {
      problems.push(`--set ${set}: expected chapter.key=value, such as mirror.url=http://mirror/debian`);
      continue;
    }
    const [, chapter, key, raw] = match as unknown as [string, string, string, string];
    const target = params[chapter];
    if (!target) {
      problems.push(`--set ${set}: chapter "${chapter}" is not in --chapters (${chapters.join(', ')})`);
      continue;
    }
    try {
      setPath(target, key.split('.'), parseValue(raw));
    } catch (err) {
      problems.push(`--set ${set}: ${(err as Error).message}`);
    }
  }
  return { params, problems };
}
