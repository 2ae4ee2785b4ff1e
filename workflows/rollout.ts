/**
 * `rollout`: runs chapters of the runbook across the selected hosts in rolling
 * waves, one `hostRunbook` child workflow per host, with a cap on hosts in flight,
 * a failure threshold (semantics in src/rollout/policy.ts), an optional approval
 * gate between waves, pause/resume, policy changes while running, and a progress
 * query. History stays bounded: when Temporal suggests it, the rollout stops
 * starting hosts, lets those in flight finish, and continues as new with its
 * progress and approvals carried over.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { CHAPTER_STEPS, chapterParamsSchemas } from '../src/chapters/catalog';
import type { InventoryHost } from '../src/inventory/model';
import { inventoryFromDocument, selectHosts } from '../src/inventory/pure';
import { childWorkflowId } from '../src/rollout/ids';
import {
  rolloutInputSchema,
  type ResolvedRolloutInput,
  type RolloutInput,
  type RolloutPolicy,
} from '../src/rollout/input';
import {
  approvalSchema,
  approveWaveSignal,
  approveWaveUpdate,
  changePolicyUpdate,
  hostEventsQuery,
  hostStepSignal,
  pauseSignal,
  policyChangeSchema,
  progressQuery,
  resumeSignal,
  type Approval,
  type HostEvent,
  type HostProgress,
  type HostState,
  type RolloutPhase,
  type RolloutProgress,
} from '../src/rollout/messages';
import { thresholdExceeded, toleratedFailures, waveSize } from '../src/rollout/policy';
import { CHAPTERS_KEY, HOSTS_KEY, JOB_KEY, STATUS_KEY } from '../src/temporal/search-attributes';
import { targetOf } from '../src/target';
import { InputError, formatIssues } from '../src/validation';
import { hostRunbook, type HostChapter, type HostRunbookInput, type HostRunbookResult } from './host-runbook';

/** What survives continue-as-new. */
interface RolloutCarry {
  /** Sequence number of the next host event. */
  nextEvent?: number;
  cursor: number;
  wave: number;
  waveEnd: number;
  hosts: Record<string, HostProgress>;
  failures: number;
  approvals: RolloutProgress['approvals'];
  paused: boolean;
  policy: RolloutPolicy;
  stopReason?: string;
}

export interface RolloutResult {
  rolloutId: string;
  status: 'succeeded' | 'failed' | 'stopped';
  checkMode: boolean;
  counts: Record<HostState, number>;
  hosts: Record<string, HostProgress>;
  stopReason?: string;
}

const HOST_STATES: HostState[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'not-started'];

/**
 * Events a run may reach before it continues as new, well below Temporal's
 * warning at 10,240: hosts still in flight when a run stops starting new ones
 * keep adding events while it drains.
 */
const HISTORY_EVENT_BUDGET = 8_000;

/** Host events kept in memory for {@link hostEventsQuery}; older ones are dropped. */
const MAX_EVENTS = 5_000;

/** Keyword lists are capped by the server (about 2 KB a value); the rest of the hosts are in the progress query. */
const MAX_SEARCHABLE_HOSTS_BYTES = 1_800;

function rejectInput(problems: string[]): never {
  const error = new InputError(problems);
  throw ApplicationFailure.nonRetryable(error.message, error.name, { problems });
}

function validate(input: unknown): {
  options: ResolvedRolloutInput;
  hosts: InventoryHost[];
  chapters: HostChapter[];
} {
  const parsed = rolloutInputSchema.safeParse(input);
  if (!parsed.success) return rejectInput(formatIssues(parsed.error));
  const options = parsed.data;
  let hosts: InventoryHost[];
  try {
    hosts = selectHosts(inventoryFromDocument(options.inventory, 'inventory'), options.limit);
  } catch (err) {
    return rejectInput((err as { problems?: string[] }).problems ?? [(err as Error).message]);
  }
  const chapters = options.chapters.map((chapter) => {
    const name = chapter.name as HostChapter['name'];
    return { name, params: chapterParamsSchemas[name].parse(chapter.params) };
  });
  return { options, hosts, chapters };
}

function initialCarry(hosts: InventoryHost[], policy: RolloutPolicy): RolloutCarry {
  const progress: Record<string, HostProgress> = {};
  for (const host of hosts) progress[host.name] = { state: 'pending', wave: 0 };
  return {
    cursor: 0,
    wave: 0,
    waveEnd: 0,
    hosts: progress,
    failures: 0,
    approvals: [],
    paused: false,
    policy,
  };
}

function searchableHosts(hosts: InventoryHost[]): string[] {
  const names: string[] = [];
  let bytes = 0;
  for (const host of hosts) {
    bytes += host.name.length + 3;
    if (bytes > MAX_SEARCHABLE_HOSTS_BYTES) break;
    names.push(host.name);
  }
  return names;
}

function countStates(hosts: Record<string, HostProgress>): Record<HostState, number> {
  const counts = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>;
  for (const progress of Object.values(hosts)) counts[progress.state]++;
  return counts;
}

function childFailureReason(err: unknown): string {
  if (err instanceof ChildWorkflowFailure) return err.cause?.message ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

function changedSteps(result: HostRunbookResult): number {
  return result.reports.filter((r) => r.status === 'changed').length;
}

export async function rollout(input: RolloutInput): Promise<RolloutResult> {
  const { options, hosts, chapters } = validate(input);
  const rolloutId = workflowInfo().workflowId;
  const state = (options.carry as RolloutCarry | undefined) ?? initialCarry(hosts, options.policy);
  let awaitingWave = 0;
  let draining = false;
  let finalPhase: RolloutPhase | undefined;
  const phase = (): RolloutPhase =>
    finalPhase ??
    (awaitingWave ? 'awaiting-approval' : draining ? 'draining' : state.paused ? 'paused' : 'running');
  const inFlight = new Set<Promise<void>>();
  // Rebuilt on replay from the same signals and results, so it costs no history of its own.
  const events: HostEvent[] = [];
  const record = (event: Omit<HostEvent, 'seq'>): void => {
    const seq = state.nextEvent ?? 0;
    state.nextEvent = seq + 1;
    events.push({ seq, ...event });
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
  };

  const progress = (): RolloutProgress => ({
    phase: phase(),
    wave: awaitingWave || state.wave,
    waves: state.wave + countRemainingWaves(),
    counts: countStates(state.hosts),
    hosts: state.hosts,
    approvals: state.approvals,
    ...(state.stopReason ? { stopReason: state.stopReason } : {}),
  });

  function countRemainingWaves(): number {
    let waves = 0;
    for (let covered = Math.max(state.cursor, state.waveEnd); covered < hosts.length; waves++) {
      covered += waveSize(state.policy.waves, state.wave + waves, hosts.length);
    }
    return waves;
  }

  function checkApproval(approval: Approval): void {
    if (awaitingWave === 0) throw new Error('no wave is waiting for approval');
    if (approval.wave !== awaitingWave)
      throw new Error(`wave ${awaitingWave} is waiting, not wave ${approval.wave}`);
    const approvers = state.policy.approval?.approvers;
    if (approvers && !approvers.includes(approval.approver)) {
      throw new Error(
        `${approval.approver} may not approve this rollout (approvers: ${approvers.join(', ')})`,
      );
    }
  }

  function approve(approval: Approval, via: 'update' | 'signal'): void {
    state.approvals.push({ ...approval, via });
    log.info('wave approved', { wave: approval.wave, approver: approval.approver, via });
  }

  setHandler(progressQuery, progress);
  setHandler(hostEventsQuery, (since) => {
    const first = events[0]?.seq ?? state.nextEvent ?? 0;
    const page = events.filter((e) => e.seq >= since);
    return { events: page, next: state.nextEvent ?? 0, dropped: Math.max(0, first - since) };
  });
  setHandler(pauseSignal, () => {
    state.paused = true;
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
  });
  setHandler(hostStepSignal, ({ host, chapter, step }) => {
    const entry = state.hosts[host];
    if (entry?.state !== 'running') return;
    Object.assign(entry, { chapter, step });
    record({ host, kind: 'step', chapter, step });
  });
  setHandler(
    approveWaveUpdate,
    (approval) => {
      approve(approval, 'update');
      return progress();
    },
    {
      validator: (approval) => {
        const parsed = approvalSchema.safeParse(approval);
        if (!parsed.success) throw new Error(formatIssues(parsed.error).join('; '));
        checkApproval(parsed.data);
      },
    },
  );
  setHandler(approveWaveSignal, (approval) => {
    // Signals cannot be rejected to the sender, so an invalid one is logged and ignored.
    const parsed = approvalSchema.safeParse(approval);
    try {
      if (!parsed.success) throw new Error(formatIssues(parsed.error).join('; '));
      checkApproval(parsed.data);
      approve(parsed.data, 'signal');
    } catch (err) {
      log.warn('approval signal ignored', { reason: (err as Error).message });
    }
  });
  setHandler(
    changePolicyUpdate,
    (change) => {
      const { failureThreshold, ...rest } = policyChangeSchema.parse(change);
      state.policy = { ...state.policy, ...rest };
      if (failureThreshold === null) delete state.policy.failureThreshold;
      else if (failureThreshold !== undefined) state.policy.failureThreshold = failureThreshold;
      log.info('policy changed', { change: JSON.stringify(change) });
      return progress();
    },
    {
      validator: (change) => {
        const parsed = policyChangeSchema.safeParse(change);
        if (!parsed.success) throw new Error(formatIssues(parsed.error).join('; '));
      },
    },
  );

  upsertSearchAttributes([
    { key: JOB_KEY, value: options.checkMode ? 'plan' : 'rollout' },
    { key: HOSTS_KEY, value: searchableHosts(hosts) },
    { key: CHAPTERS_KEY, value: chapters.map((c) => c.name) },
    { key: STATUS_KEY, value: 'running' },
  ]);

  const stopping = () => state.stopReason !== undefined;

  // Per host, the rollout records about three child events, one signal per step and its share of workflow tasks.
  const stepsPerHost = chapters.reduce((sum, c) => sum + CHAPTER_STEPS[c.name].length, 0) + 1;
  const eventsPerHost = 2 * (stepsPerHost + 3);
  /** True when one more host could push this run past its budget before it drains. */
  const historyFull = (): boolean => {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      info.historyLength + (inFlight.size + 1) * eventsPerHost > HISTORY_EVENT_BUDGET
    );
  };

  async function runHost(host: InventoryHost): Promise<void> {
    const entry = state.hosts[host.name] as HostProgress;
    entry.state = 'running';
    record({ host: host.name, kind: 'running' });
    const args: [HostRunbookInput] = [
      {
        rolloutId,
        target: targetOf(host),
        hostKeyPolicy: options.hostKeyPolicy,
        chapters,
        checkMode: options.checkMode,
        retry: options.retry,
        reportToParent: true,
      },
    ];
    try {
      const result = await executeChild(hostRunbook, {
        workflowId: childWorkflowId(rolloutId, host.name),
        args,
        staticSummary: `${options.checkMode ? 'plan' : 'rollout'} on ${host.name}: ${chapters.map((c) => c.name).join(', ')}`,
      });
      Object.assign(entry, { state: 'succeeded', changed: changedSteps(result) });
      delete entry.chapter;
      delete entry.step;
      record({ host: host.name, kind: 'succeeded' });
    } catch (err) {
      if (isCancellation(err)) {
        Object.assign(entry, { state: 'cancelled', reason: 'rollout cancelled' });
        record({ host: host.name, kind: 'cancelled', reason: 'rollout cancelled' });
        return;
      }
      Object.assign(entry, { state: 'failed', reason: childFailureReason(err) });
      record({ host: host.name, kind: 'failed', reason: entry.reason ?? 'failed' });
      state.failures++;
      log.warn('host failed', { host: host.name, reason: entry.reason });
      const tolerated = toleratedFailures(state.policy.failureThreshold, hosts.length);
      if (thresholdExceeded(state.failures, tolerated) && !stopping()) {
        state.stopReason = `failure threshold exceeded: ${state.failures} hosts failed, ${tolerated} tolerated`;
      }
    }
  }

  function launch(host: InventoryHost): void {
    const running: Promise<void> = runHost(host).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }

  async function awaitApproval(wave: number): Promise<void> {
    const gate = state.policy.approval;
    if (!gate || wave === 1 || state.approvals.some((a) => a.wave === wave)) return;
    awaitingWave = wave;
    const approved = await condition(() => state.approvals.some((a) => a.wave === wave), gate.timeout);
    awaitingWave = 0;
    if (!approved && gate.onTimeout === 'stop') {
      state.stopReason = `wave ${wave} was not approved within ${gate.timeout} ms`;
    }
  }

  /** Starts the hosts of the current wave within the in-flight cap; false when it must continue as new. */
  async function runWave(): Promise<boolean> {
    while (state.cursor < state.waveEnd && !stopping()) {
      await condition(() => stopping() || (!state.paused && inFlight.size < state.policy.maxInFlight));
      if (stopping()) break;
      if (historyFull()) return false;
      const host = hosts[state.cursor++] as InventoryHost;
      (state.hosts[host.name] as HostProgress).wave = state.wave;
      launch(host);
    }
    await condition(() => inFlight.size === 0);
    return true;
  }

  async function drainAndContinueAsNew(): Promise<never> {
    draining = true;
    await condition(() => inFlight.size === 0);
    await condition(allHandlersFinished);
    log.info('continuing as new', { cursor: state.cursor, historyLength: workflowInfo().historyLength });
    return continueAsNew<typeof rollout>({ ...input, carry: state });
  }

  try {
    while (!stopping() && (state.cursor < hosts.length || state.cursor < state.waveEnd)) {
      if (state.cursor >= state.waveEnd) {
        await awaitApproval(state.wave + 1);
        if (stopping()) break;
        state.wave++;
        state.waveEnd = Math.min(
          hosts.length,
          state.cursor + waveSize(state.policy.waves, state.wave - 1, hosts.length),
        );
      }
      if (!(await runWave())) return await drainAndContinueAsNew();
    }
    await condition(() => inFlight.size === 0);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() => condition(() => inFlight.size === 0));
    finish('cancelled');
    throw err;
  }
  return finish(undefined);

  function finish(reason: 'cancelled' | undefined): RolloutResult {
    for (const [host, entry] of Object.entries(state.hosts)) {
      if (entry.state !== 'pending') continue;
      entry.state = 'not-started';
      entry.reason = reason === 'cancelled' ? 'rollout cancelled' : state.stopReason;
      record({ host, kind: 'not-started', ...(entry.reason ? { reason: entry.reason } : {}) });
    }
    const counts = countStates(state.hosts);
    const status = state.stopReason ? 'stopped' : counts.failed > 0 ? 'failed' : 'succeeded';
    finalPhase = reason ?? status;
    upsertSearchAttributes([{ key: STATUS_KEY, value: finalPhase }]);
    return {
      rolloutId,
      status,
      checkMode: options.checkMode,
      counts,
      hosts: state.hosts,
      ...(state.stopReason ? { stopReason: state.stopReason } : {}),
    };
  }
}
