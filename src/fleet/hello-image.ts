/**
 * rollbook/hello:1, the image that proves a host's Docker can run a container.
 * It is built locally (fleet/hello/build.sh) and saved to a tar that tests copy
 * onto a host and `docker load` there, so no host ever pulls from a registry.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

import { REPO_ROOT, STATE_DIR } from '../paths';
import { formatIssues } from '../validation';
import { run } from './process';

export const HELLO_IMAGE = 'rollbook/hello:1';
/** The one line `docker run --rm rollbook/hello:1` prints. */
export const HELLO_OUTPUT = 'hello from rollbook';

export interface HelloImage {
  ref: typeof HELLO_IMAGE;
  /** `docker save` output, `.rollbook/images/hello-1.tar`. */
  tarFile: string;
  /** sha256 of the tar file, 64 hex digits: check it after copying the tar to a host. */
  sha256: string;
}

const BUILD_SCRIPT = path.join(REPO_ROOT, 'fleet', 'hello', 'build.sh');
const IMAGES_DIR = path.join(STATE_DIR, 'images');
const BUILD_TIMEOUT_MS = 5 * 60_000;

const recordSchema = z.object({
  ref: z.literal(HELLO_IMAGE),
  imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  output: z.literal(HELLO_OUTPUT),
});

/** hello-1.json does not describe the image this code expects. */
export class HelloImageRecordError extends Error {
  override readonly name = 'HelloImageRecordError';

  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `invalid hello image record ${file}: ${problems.join('; ')}; rebuild: fleet/hello/build.sh --force`,
    );
  }
}

/** Parses hello-1.json's text; `file` only names it in errors. */
export function parseHelloRecord(text: string, file = 'hello-1.json'): z.infer<typeof recordSchema> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new HelloImageRecordError(file, [`not JSON: ${(error as Error).message}`]);
  }
  const result = recordSchema.safeParse(data);
  if (!result.success) throw new HelloImageRecordError(file, formatIssues(result.error));
  return result.data;
}

/** Builds rollbook/hello:1 and its tar when either is missing or stale; otherwise only reads the record. */
export async function ensureHelloImage(): Promise<HelloImage> {
  await run(BUILD_SCRIPT, [], { target: HELLO_IMAGE, timeoutMs: BUILD_TIMEOUT_MS });
  const file = path.join(IMAGES_DIR, 'hello-1.json');
  const record = parseHelloRecord(await fs.readFile(file, 'utf8'), file);
  return { ref: record.ref, tarFile: path.join(IMAGES_DIR, 'hello-1.tar'), sha256: record.sha256 };
}
