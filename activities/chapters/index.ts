/**
 * The chapter activity: one `runStep` per step of a chapter, so the workflow
 * records each step's report and retries only the step that failed.
 */
import { Context } from '@temporalio/activity';
import {
  CHAPTER_STEPS,
  chapterParamsSchemas,
  isStepOf,
  type ChapterName,
  type ChapterParams,
} from '../../src/chapters/catalog';
import type { HostFacts } from '../../src/facts';
import type { SshPool } from '../../src/ssh';
import type { StepReport } from '../../src/steps/model';
import type { HostKeyPolicy, HostTarget } from '../../src/target';
import { InputError, parseInput } from '../../src/validation';
import { atBoundary } from '../boundary';
import type { ActivityDeps } from '../deps';
import { runStep, type AnyStepDefinition, type ImageSource, type StepContext } from '../steps/runner';
import { DOCKER_STEPS } from './docker';
import { MIRROR_STEPS } from './mirror';

export interface RunStepInput {
  /** For heartbeat details and logs; the workflow id of the rollout. */
  rolloutId: string;
  target: HostTarget;
  hostKeyPolicy: HostKeyPolicy;
  /** From the facts activity, gathered before the first chapter. */
  facts: HostFacts;
  chapter: ChapterName;
  /** One of `CHAPTER_STEPS[chapter]`. */
  step: string;
  /** The chapter's parameters, validated again here with the catalog's schema. */
  params: unknown;
  /** Probe and plan only; nothing on the host changes. */
  checkMode: boolean;
}

type Registry = { [C in ChapterName]: ReadonlyArray<AnyStepDefinition<ChapterParams[C]>> };

const REGISTRY: Registry = { mirror: MIRROR_STEPS, docker: DOCKER_STEPS };

/** The definition of a step, checked against the catalog so the two can never drift apart. */
export function stepDefinition<C extends ChapterName>(
  chapter: C,
  step: string,
): AnyStepDefinition<ChapterParams[C]> {
  const known = CHAPTER_STEPS[chapter] as readonly string[];
  const def = (REGISTRY[chapter] as ReadonlyArray<AnyStepDefinition<ChapterParams[C]>>).find(
    (d) => d.name === step,
  );
  if (!isStepOf(chapter, step) || !def) {
    throw new InputError([`step: expected one of ${known.join(', ')}, received ${JSON.stringify(step)}`]);
  }
  return def;
}

/** Heartbeat and cancellation from the activity context, or no-ops outside an activity (direct runs, tests). */
function activityHooks(): { heartbeat: (details?: unknown) => void; signal: AbortSignal } {
  try {
    const context = Context.current();
    return { heartbeat: (details) => context.heartbeat(details), signal: context.cancellationSignal };
  } catch {
    return { heartbeat: () => undefined, signal: new AbortController().signal };
  }
}

export interface ChapterDeps extends ActivityDeps {
  /** Tars of the verify image; without it, a host that lacks the image fails chapter 2's verify step. */
  images?: ImageSource;
}

export function createChapterActivities(deps: ChapterDeps) {
  return {
    /** Probes, plans and (unless in check mode) applies one step of a chapter on one host. */
    runStep: atBoundary(async (input: RunStepInput): Promise<StepReport> => {
      const ssh = deps.ssh(input.hostKeyPolicy);
      const hooks = activityHooks();
      return runChapterStep(input.chapter, input.step, {
        target: input.target,
        facts: input.facts,
        params: input.params,
        checkMode: input.checkMode,
        ssh,
        heartbeat: (details) =>
          hooks.heartbeat({ rolloutId: input.rolloutId, host: input.target.host, details }),
        signal: hooks.signal,
        ...(deps.images ? { images: deps.images } : {}),
      });
    }),
  };
}

/** Context of a direct run, with parameters not yet validated. */
export type RawStepContext = Omit<StepContext<unknown>, 'params'> & { params: unknown };

async function runChapterStep(chapter: ChapterName, step: string, ctx: RawStepContext): Promise<StepReport> {
  if (chapter === 'mirror') {
    const params = parseInput(chapterParamsSchemas.mirror, ctx.params);
    return runStep(stepDefinition('mirror', step), { ...ctx, params }, { chapter });
  }
  if (chapter === 'docker') {
    const params = parseInput(chapterParamsSchemas.docker, ctx.params);
    return runStep(stepDefinition('docker', step), { ...ctx, params }, { chapter });
  }
  throw new InputError([
    `chapter: expected one of ${Object.keys(CHAPTER_STEPS).join(', ')}, received ${JSON.stringify(chapter)}`,
  ]);
}

export interface RunChapterOptions {
  ssh: SshPool;
  target: HostTarget;
  facts: HostFacts;
  chapter: ChapterName;
  params: unknown;
  checkMode?: boolean;
  images?: ImageSource;
  signal?: AbortSignal;
  /**
   * Attempts per step when it throws a retryable error, standing in for the
   * activity retry policy a rollout has; default 1 (no retry).
   */
  attempts?: number;
  /** Pause before another attempt, in ms; default 1000. */
  retryDelayMs?: number;
  /** Told about each retried error, which would otherwise go unseen. */
  onRetry?: (step: string, error: Error, attempt: number) => void;
}

/**
 * Runs every step of a chapter on one host, directly, without Temporal: what
 * the workflow does for one host, minus durability. It stops after the first
 * failed step, as a rollout does. For tests and local tries.
 */
export async function runChapterOnHost(options: RunChapterOptions): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const step of CHAPTER_STEPS[options.chapter]) {
    const report = await withRetries(options, step, () =>
      runChapterStep(options.chapter, step, {
        target: options.target,
        facts: options.facts,
        params: options.params,
        checkMode: options.checkMode ?? false,
        ssh: options.ssh,
        heartbeat: () => undefined,
        signal: options.signal ?? new AbortController().signal,
        ...(options.images ? { images: options.images } : {}),
      }),
    );
    reports.push(report);
    if (report.status === 'failed') break;
  }
  return reports;
}

async function withRetries<T>(
  options: RunChapterOptions,
  step: string,
  attempt: () => Promise<T>,
): Promise<T> {
  const attempts = options.attempts ?? 1;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const retryable = err instanceof Error && (err as { retryable?: unknown }).retryable === true;
      if (!retryable || n >= attempts) throw err;
      options.onRetry?.(step, err, n);
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 1_000));
    }
  }
}
