/**
 * The recording the simulator replays: what a converged Debian bookworm host
 * answered to every command and file read of chapters 1 and 2, with the
 * host-specific values (its address and host name) replaced by placeholders.
 * test/sim/record.ts writes it from a real fleet host; tests only read it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

import { formatIssues } from '../../src/validation';

export const RECORDING_FORMAT = 'rollbook-sim-recording/1';
export const CONVERGED_BOOKWORM = path.join(__dirname, 'fixtures', 'converged-bookworm.json');

/** Placeholders for the values that differ from host to host. */
export const HOST_PLACEHOLDER = '{{host}}';
export const ADDRESS_PLACEHOLDER = '{{address}}';

const commandSchema = z.strictObject({
  /** As given to SshPool.exec (inside the pool's wrapper), normalized. */
  command: z.string(),
  /** sha256 (hex) of the stdin bytes; absent when the command got none. */
  stdinSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  stdout: z.string(),
  stderr: z.string(),
  exitCode: z.number().int().nullable(),
  /** Median of the recorded run times on the real host, in ms. */
  durationMs: z.number().nonnegative(),
  /** How often one converged pass (facts, then chapters 1 and 2) runs it. */
  timesPerPass: z.number().int().nonnegative(),
});

const fileSchema = z.strictObject({
  path: z.string().startsWith('/'),
  /** null: the file did not exist, and a read gets "no such file". */
  contentBase64: z.string().nullable(),
  mode: z.number().int(),
  uid: z.number().int(),
  gid: z.number().int(),
  /** How often one converged pass reads it (0 for a file recorded as a sample). */
  timesPerPass: z.number().int().nonnegative(),
});

const dockerCallSchema = z.strictObject({ method: z.string(), path: z.string() });

const stepSchema = z.strictObject({ chapter: z.string(), step: z.string(), status: z.string() });

export const recordingSchema = z.strictObject({
  format: z.literal(RECORDING_FORMAT),
  description: z.string(),
  recordedAt: z.string(),
  source: z.strictObject({
    image: z.string(),
    osName: z.string(),
    kernel: z.string(),
    dockerServerVersion: z.string(),
  }),
  /** The chapter parameters of the recorded pass; a replayed rollout must use these. */
  chapters: z.array(
    z.strictObject({ name: z.enum(['mirror', 'docker']), params: z.record(z.string(), z.unknown()) }),
  ),
  /** Each step's status in the recorded pass. */
  steps: z.array(stepSchema),
  commands: z.array(commandSchema),
  files: z.array(fileSchema),
  /** Docker Engine API calls; chapters 1 and 2 make none, and the simulator serves none. */
  docker: z.array(dockerCallSchema),
});

export type Recording = z.infer<typeof recordingSchema>;
export type RecordedCommand = Recording['commands'][number];
export type RecordedFile = Recording['files'][number];

/** A recording is not in the expected format. */
export class RecordingFormatError extends Error {
  override readonly name = 'RecordingFormatError';

  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `invalid simulator recording ${file}: ${problems.join('; ')}; refresh it: npx tsx test/sim/record.ts`,
    );
  }
}

export function loadRecording(file = CONVERGED_BOOKWORM): Recording {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RecordingFormatError(file, [(err as Error).message]);
  }
  const parsed = recordingSchema.safeParse(data);
  if (!parsed.success) throw new RecordingFormatError(file, formatIssues(parsed.error));
  return parsed.data;
}

/** Commands and file reads one host sees in one converged pass. */
export function commandsPerPass(recording: Recording): number {
  return recording.commands.reduce((sum, c) => sum + c.timesPerPass, 0);
}

export interface HostIdentity {
  /** Inventory name, also the host's hostname. */
  host: string;
  address: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A value as a whole token: not preceded or followed by a letter, digit, dot or dash. */
function tokenPattern(value: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9.-])${escapeRegExp(value)}(?![A-Za-z0-9-]|\\.[0-9])`, 'g');
}

/** Replaces the host's own values with placeholders. */
export function normalizeText(text: string, id: HostIdentity): string {
  return text
    .replace(tokenPattern(id.address), ADDRESS_PLACEHOLDER)
    .replace(tokenPattern(id.host), HOST_PLACEHOLDER);
}

/** Puts a host's own values in place of the placeholders. */
export function denormalizeText(text: string, id: HostIdentity): string {
  return text.split(ADDRESS_PLACEHOLDER).join(id.address).split(HOST_PLACEHOLDER).join(id.host);
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The key a command is replayed by: its normalized text and the hash of its stdin. */
export function replayKey(command: string, stdinSha256: string | undefined): string {
  return stdinSha256 === undefined ? command : `${command}\0stdin:${stdinSha256}`;
}
