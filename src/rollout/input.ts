/**
 * The rollout workflow's one JSON input, as the Temporal UI's start form, the CLI
 * and Schedules give it. Validated when the workflow starts (and by the CLI
 * before starting), with one line per problem. Safe in workflow code.
 */
import { z } from 'zod';
import { CHAPTER_STEPS, chapterParamsSchemas, type ChapterName } from '../chapters/catalog';
import { validateHostPattern } from '../inventory/pure';
import { durationSchema } from './duration';
import { failureThresholdSchema, wavesSchema } from './policy';

const approverNameSchema = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'expected an approver name');

const chapterSchema = z
  .object({
    /** A chapter of the runbook, such as `mirror` or `docker`. */
    name: z.string(),
    /** The chapter's parameters; see src/chapters/catalog.ts for each chapter's schema and defaults. */
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const rolloutPolicySchema = z
  .object({
    /** Wave sizes: a count, a percentage, or a ramp such as `[1, 5, "25%"]`; default one wave of every host. */
    waves: wavesSchema.default('100%'),
    /** Hosts running at once within a wave; default 10. */
    maxInFlight: z.number().int().min(1).max(500).default(10),
    /** Failed hosts tolerated (count or percentage); exceeding it stops the rollout. Default: no limit. */
    failureThreshold: failureThresholdSchema.optional(),
    /** When present, every wave after the first waits for an approval. */
    approval: z
      .object({
        /** Who may approve; default anyone. */
        approvers: z.array(approverNameSchema).min(1).optional(),
        /** How long a wave waits; default 24h. */
        timeout: durationSchema.default(24 * 3_600_000),
        /** On expiry, `stop` the rollout (default) or `continue` with the wave. */
        onTimeout: z.enum(['stop', 'continue']).default('stop'),
      })
      .strict()
      .optional(),
  })
  .strict();

export const hostRetrySchema = z
  .object({
    /** Attempts per step before the host is marked failed; default 5. */
    maximumAttempts: z.number().int().min(1).max(50).default(5),
    /** First retry delay; default 2s, doubling up to `maximumInterval`. */
    initialInterval: durationSchema.default(2_000),
    /** Default 30s. */
    maximumInterval: durationSchema.default(30_000),
  })
  .strict();

export const rolloutInputSchema = z
  .object({
    /** The inventory, inline, in rollbook's own format. */
    inventory: z.unknown(),
    /** Ansible-style host pattern; default `all`. */
    limit: z.string().default('all'),
    /** Chapters to run on every host, in order. */
    chapters: z.array(chapterSchema).min(1, 'expected at least one chapter'),
    /** Plan only: probe and report the diffs, change nothing. Default false. */
    checkMode: z.boolean().default(false),
    /** `accept-new` records unknown host keys on first contact; default `strict` refuses them. */
    hostKeyPolicy: z.enum(['strict', 'accept-new']).default('strict'),
    policy: rolloutPolicySchema.default({ waves: '100%', maxInFlight: 10 }),
    retry: hostRetrySchema.default({ maximumAttempts: 5, initialInterval: 2_000, maximumInterval: 30_000 }),
    /** Internal: state carried across continue-as-new. Never set it by hand. */
    carry: z.unknown().optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    for (const problem of validateHostPattern(input.limit))
      ctx.addIssue({ code: 'custom', path: ['limit'], message: problem });
    input.chapters.forEach((chapter, index) => checkChapter(chapter, index, ctx));
  });

function isChapterName(name: string): name is ChapterName {
  return Object.prototype.hasOwnProperty.call(CHAPTER_STEPS, name);
}

function checkChapter(chapter: z.infer<typeof chapterSchema>, index: number, ctx: z.RefinementCtx): void {
  if (!isChapterName(chapter.name)) {
    const known = Object.keys(CHAPTER_STEPS).join(', ');
    ctx.addIssue({
      code: 'custom',
      path: ['chapters', index, 'name'],
      message: `unknown chapter "${chapter.name}" (known: ${known})`,
    });
    return;
  }
  const parsed = chapterParamsSchemas[chapter.name].safeParse(chapter.params);
  for (const issue of parsed.success ? [] : parsed.error.issues) {
    ctx.addIssue({
      code: 'custom',
      path: ['chapters', index, 'params', ...issue.path],
      message: issue.message,
    });
  }
}

export type RolloutInput = z.input<typeof rolloutInputSchema>;
export type ResolvedRolloutInput = z.output<typeof rolloutInputSchema>;
export type RolloutPolicy = z.output<typeof rolloutPolicySchema>;
export type HostRetry = z.output<typeof hostRetrySchema>;
