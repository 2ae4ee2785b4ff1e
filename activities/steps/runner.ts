/**
 * The step runner: probe the host, plan the difference from what the parameters
 * ask, and apply only that difference, then prove it took.
 *
 *   probe → plan → null: `ok`, nothing to do
 *                → check mode: `changed` with the changes, nothing applied
 *                → apply → probe and plan again, which must give null → verify → `changed`
 *
 * A step may also be `skipped` with a reason before anything is probed (an
 * upgrade nobody asked for). Because every apply only moves the host towards the
 * planned state, a step interrupted anywhere is finished by running it again.
 */
import type { Change, StepReport } from '../../src/steps/model';
import type { HostFacts } from '../../src/facts';
import type { SshPool } from '../../src/ssh';
import type { HostTarget } from '../../src/target';
import { abortReason } from '../../src/ssh/semaphore';
import { escapeControl } from '../../src/ssh/errors';
import { NotConvergedError } from './errors';

/** Where a tar of an image can be found on the worker, to copy it to a host. */
export interface ImageSource {
  /** The local tar file of `ref` (as `docker save` writes it) and its sha256 in hex; throws when there is none. */
  tarFor(ref: string): Promise<{ tarFile: string; sha256: string }>;
}

/** What a plan may read: pure data, so planning is testable without a host. */
export interface PlanContext<P> {
  target: HostTarget;
  facts: HostFacts;
  params: P;
  checkMode: boolean;
}

export interface StepContext<P> extends PlanContext<P> {
  ssh: SshPool;
  /** Records liveness for Temporal (throttled by the SDK); details say what the step is doing. */
  heartbeat(details?: unknown): void;
  /** Aborted when the activity is cancelled; passed to every remote command. */
  signal: AbortSignal;
  /** Local image tars for the verify step; absent when the worker has none. */
  images?: ImageSource;
}

export interface StepDefinition<P, S, Plan> {
  readonly name: string;
  /** A reason to skip the step without touching the host, or undefined to run it. */
  skip?(ctx: PlanContext<P>): string | undefined;
  /** Reads the host's current state; changes nothing. */
  probe(ctx: StepContext<P>): Promise<S>;
  /** Pure: what must change to reach the desired state, or null when the host is converged. */
  plan(state: S, ctx: PlanContext<P>): Plan | null;
  /** The plan as readable changes (unified diffs for files). */
  changes(plan: Plan): Change[];
  /** Makes the planned changes. */
  apply(ctx: StepContext<P>, plan: Plan): Promise<void>;
  /** After a converged apply: throws when the result does not work. */
  verify?(ctx: StepContext<P>, plan: Plan): Promise<void>;
  /** A read-only health check run whenever the host is converged, also when nothing had to change. */
  check?(ctx: StepContext<P>, state: S): Promise<void>;
}

/** Any step definition, whatever its parameter, state and plan types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStepDefinition<P> = StepDefinition<P, any, any>;

export interface RunStepOptions {
  chapter: string;
  /** Clock for durations; tests pass a fixed one. */
  now?: () => number;
}

/** Longest reason kept in a report, so a huge stderr never floods workflow history. */
const REASON_CHARS = 1000;

/**
 * Runs one step. Permanent failures come back as a `failed` report with the
 * reason; retryable ones (host unreachable, apt locked, daemon starting) and
 * cancellation are thrown, for the activity's retry policy to handle.
 */
export async function runStep<P, S, Plan>(
  def: StepDefinition<P, S, Plan>,
  ctx: StepContext<P>,
  options: RunStepOptions,
): Promise<StepReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const report = (status: StepReport['status'], changes: Change[], reason?: string): StepReport => ({
    chapter: options.chapter,
    step: def.name,
    host: ctx.target.host,
    status,
    changes,
    ...(reason === undefined ? {} : { reason }),
    checkMode: ctx.checkMode,
    durationMs: now() - started,
  });

  const skipReason = def.skip?.(ctx);
  if (skipReason !== undefined) return report('skipped', [], skipReason);

  let changes: Change[] = [];
  try {
    const phase = (name: string) => {
      if (ctx.signal.aborted) throw abortReason(ctx.signal);
      ctx.heartbeat({ chapter: options.chapter, step: def.name, phase: name });
    };

    phase('probe');
    const state = await def.probe(ctx);
    const plan = def.plan(state, ctx);
    if (plan === null) {
      if (!ctx.checkMode && def.check) await def.check(ctx, state);
      return report('ok', []);
    }
    changes = def.changes(plan);
    if (ctx.checkMode) return report('changed', changes);

    phase('apply');
    await def.apply(ctx, plan);

    phase('converge');
    const after = await def.probe(ctx);
    const remaining = def.plan(after, ctx);
    if (remaining !== null) {
      const actions = def.changes(remaining).map((c) => `${c.action} ${c.target}`);
      throw new NotConvergedError(ctx.target.host, def.name, actions);
    }

    phase('verify');
    await def.verify?.(ctx, plan);
    if (def.check) await def.check(ctx, after);
    return report('changed', changes);
  } catch (err) {
    if (isRetryable(err) || ctx.signal.aborted) throw err;
    return report('failed', changes, reasonOf(err));
  }
}

function isRetryable(err: unknown): boolean {
  return err instanceof Error && (err as { retryable?: unknown }).retryable === true;
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = escapeControl(message).replace(/\n/g, '\\n');
  return line.length > REASON_CHARS ? `${line.slice(0, REASON_CHARS)}…` : line;
}
