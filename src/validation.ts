/**
 * Turns zod errors into the one-line-per-problem form rollbook shows at every
 * edge (CLI, workflow start, signal and update handlers). Safe in workflow code.
 */
import type { z } from 'zod';

function describePath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(input)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${describePath(issue.path)}: ${issue.message}`);
}

export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(readonly problems: string[]) {
    super(`invalid input:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses `input` with `schema`, throwing {@link InputError} with one line per problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new InputError(formatIssues(result.error));
  return result.data;
}
