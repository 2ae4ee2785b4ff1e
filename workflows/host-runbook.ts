/**
 * `hostRunbook`: one host's part of a rollout, as a child workflow whose id is
 * `<rollout id>--<host>`. It gathers facts, then runs each chapter's steps in
 * order, one activity per step, so a retried or resumed host never applies a
 * finished step again: Temporal replays its recorded result instead.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
  type ExternalWorkflowHandle,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CHAPTER_STEPS, type ChapterName } from '../src/chapters/catalog';
import type { HostFacts } from '../src/facts';
import { hostStepSignal, type HostStepEvent } from '../src/rollout/messages';
import type { HostRetry } from '../src/rollout/input';
import type { StepReport } from '../src/steps/model';
import type { HostKeyPolicy, HostTarget } from '../src/target';

export interface HostChapter {
  name: ChapterName;
  /** Already validated and defaulted by the rollout. */
  params: Record<string, unknown>;
}

export interface HostRunbookInput {
  rolloutId: string;
  target: HostTarget;
  hostKeyPolicy: HostKeyPolicy;
  chapters: HostChapter[];
  checkMode: boolean;
  retry: HostRetry;
  /** Report each step's start to the parent rollout (off for a host run on its own). */
  reportToParent: boolean;
}

export interface HostRunbookResult {
  host: string;
  facts: HostFacts;
  reports: StepReport[];
}

export interface HostRunbookProgress {
  chapter?: string;
  step?: string;
  reports: StepReport[];
}

export const hostProgressQuery = defineQuery<HostRunbookProgress>('hostProgress');

function activities(retry: HostRetry) {
  const options: ActivityOptions = {
    startToCloseTimeout: '30 minutes',
    // Steps heartbeat while they work, so a dead worker is noticed this fast.
    heartbeatTimeout: '20 seconds',
    retry: {
      initialInterval: retry.initialInterval,
      maximumInterval: retry.maximumInterval,
      backoffCoefficient: 2,
      maximumAttempts: retry.maximumAttempts,
    },
  };
  return proxyActivities<Activities>(options);
}

function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** Progress is informative: a parent that is gone or busy must not fail the host. */
async function reportStep(parent: ExternalWorkflowHandle | undefined, event: HostStepEvent): Promise<void> {
  try {
    await parent?.signal(hostStepSignal, event);
  } catch {
    // The rollout has closed (cancelled or terminated); the host's own result still stands.
  }
}

export async function hostRunbook(input: HostRunbookInput): Promise<HostRunbookResult> {
  const { gatherFacts, runStep } = activities(input.retry);
  const progress: HostRunbookProgress = { reports: [] };
  setHandler(hostProgressQuery, () => progress);
  const parent = input.reportToParent ? workflowInfo().parent : undefined;
  const parentHandle = parent ? getExternalWorkflowHandle(parent.workflowId) : undefined;
  const fail = (message: string): never => {
    throw ApplicationFailure.nonRetryable(message, 'HostRunbookFailed', { reports: progress.reports });
  };

  let facts: HostFacts;
  try {
    facts = await gatherFacts({ target: input.target, hostKeyPolicy: input.hostKeyPolicy });
  } catch (err) {
    return fail(`facts: ${failureMessage(err)}`);
  }

  for (const chapter of input.chapters) {
    for (const step of CHAPTER_STEPS[chapter.name]) {
      Object.assign(progress, { chapter: chapter.name, step });
      // Not awaited: waiting for the signal's delivery would cost the child a workflow task per step.
      void reportStep(parentHandle, { host: input.target.host, chapter: chapter.name, step });
      let report: StepReport;
      try {
        const { rolloutId, target, hostKeyPolicy, checkMode } = input;
        const stepInput = {
          rolloutId,
          target,
          hostKeyPolicy,
          checkMode,
          facts,
          step,
          params: chapter.params,
        };
        report = await runStep({ ...stepInput, chapter: chapter.name });
      } catch (err) {
        return fail(`${chapter.name}/${step}: ${failureMessage(err)}`);
      }
      progress.reports.push(report);
      if (report.status === 'failed') return fail(`${chapter.name}/${step}: ${report.reason ?? 'failed'}`);
    }
  }
  return { host: input.target.host, facts, reports: progress.reports };
}
