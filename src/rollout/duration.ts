import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as `500ms`, `30s`, `10m`, `24h` or `7d`, parsed to milliseconds. */
export const durationSchema = z
  .string()
  .regex(/^[0-9]{1,9}(ms|s|m|h|d)$/, 'expected a duration such as "30s", "10m" or "24h"')
  .transform((text) => {
    const [, amount, unit] = /^([0-9]+)(ms|s|m|h|d)$/.exec(text) as unknown as [
      string,
      string,
      keyof typeof UNIT_MS,
    ];
    return Number(amount) * UNIT_MS[unit];
  });
