/**
 * Rollout policy: how hosts are split into waves, how many run at once, and when
 * failures stop the rollout. Pure and deterministic, so workflow code uses it.
 *
 * Failure threshold semantics: `failureThreshold` is the number (or percentage of
 * the selected hosts, rounded down) of host failures the rollout tolerates. The
 * rollout stops when failures EXCEED it: with a threshold of 1, the first failed
 * host is tolerated and the second stops the rollout. Stopping means no further
 * host is started; hosts already in flight run to completion (interrupting a
 * package install half-way would leave them worse off) and are counted as they
 * end; hosts never started are reported `not-started`. Without a threshold every
 * host is attempted whatever fails.
 */
import { z } from 'zod';

const percentSchema = z
  .string()
  .regex(/^(100|[1-9][0-9]?)%$/, 'expected a percentage from 1% to 100%, such as "25%"');
const waveSizeSchema = z.union([z.number().int().positive('a wave size must be at least 1'), percentSchema]);

/** One wave size for all waves (`5`, `"25%"`) or a ramp (`[1, 5, "25%"]`) whose last size repeats. */
export const wavesSchema = z.union([waveSizeSchema, z.array(waveSizeSchema).min(1).max(100)]);

export const failureThresholdSchema = z.union([
  z.number().int().nonnegative('a failure threshold cannot be negative'),
  z.string().regex(/^(100|[1-9]?[0-9])%$/, 'expected a percentage from 0% to 100%, such as "10%"'),
]);

export type WaveSize = z.infer<typeof waveSizeSchema>;
export type Waves = z.infer<typeof wavesSchema>;
export type FailureThreshold = z.infer<typeof failureThresholdSchema>;

function sizeOf(size: WaveSize, total: number): number {
  if (typeof size === 'number') return size;
  return Math.max(1, Math.floor((total * Number(size.slice(0, -1))) / 100));
}

/** Sizes of successive waves covering `total` hosts; the last ramp entry repeats. */
export function planWaves(total: number, waves: Waves): number[] {
  const sizes: number[] = [];
  let covered = 0;
  for (let i = 0; covered < total; i++) {
    const size = Math.min(waveSize(waves, i, total), total - covered);
    sizes.push(size);
    covered += size;
  }
  return sizes;
}

/** How many failed hosts are tolerated; `undefined` means no limit. */
export function toleratedFailures(
  threshold: FailureThreshold | undefined,
  total: number,
): number | undefined {
  if (threshold === undefined) return undefined;
  if (typeof threshold === 'number') return threshold;
  return Math.floor((total * Number(threshold.slice(0, -1))) / 100);
}

export function thresholdExceeded(failures: number, tolerated: number | undefined): boolean {
  return tolerated !== undefined && failures > tolerated;
}

/** Size of the wave at 0-based `index` for `total` hosts (the last ramp entry repeats). */
export function waveSize(waves: Waves, index: number, total: number): number {
  const ramp = Array.isArray(waves) ? waves : [waves];
  return sizeOf(ramp[Math.min(index, ramp.length - 1)] as WaveSize, total);
}
