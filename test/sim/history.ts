/**
 * Figures read back from a finished rollout's workflow histories, for the scale
 * test and the bench: every run of the continue-as-new chain with its event
 * count and encoded size, the most children pending at once, and the latency
 * of each activity from its scheduled, started and completed events.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Temporal's default warning limits (dynamic config `limit.historyCount.warn` and `limit.historySize.warn`). */
export const HISTORY_EVENTS_WARN = 10_240;
export const HISTORY_BYTES_WARN = 10 * 1024 * 1024;

export interface HistoryFigures {
  workflowId: string;
  runId: string;
  events: number;
  /** Byte length of the history, protobuf-encoded as the server stores it. */
  bytes: number;
  /** What describe() reports. */
  describedLength: number;
  describedSize: number | undefined;
  /** Children started by this run. */
  childrenStarted: number;
  /** Most children started and not yet closed at any point of this run. */
  maxPendingChildren: number;
}

export interface ActivityLatency {
  activityType: string;
  /** Scheduled → started: time in the task queue. */
  queueMs: number;
  /** Started → completed: time on the worker. */
  runMs: number;
  /** Scheduled → completed. */
  totalMs: number;
}

function millis(time: HistoryEvent['eventTime']): number {
  if (!time) return 0;
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

export function encodedSize(history: History): number {
  return temporal.api.history.v1.History.encode(history).finish().length;
}

/** The most children open at once, counting from each start request to its close or failed start. */
export function maxPendingChildren(events: readonly HistoryEvent[]): { started: number; max: number } {
  let pending = 0;
  let max = 0;
  let started = 0;
  for (const e of events) {
    if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      started++;
      max = Math.max(max, ++pending);
    } else if (
      e.startChildWorkflowExecutionFailedEventAttributes ||
      e.childWorkflowExecutionCompletedEventAttributes ||
      e.childWorkflowExecutionFailedEventAttributes ||
      e.childWorkflowExecutionCanceledEventAttributes ||
      e.childWorkflowExecutionTimedOutEventAttributes ||
      e.childWorkflowExecutionTerminatedEventAttributes
    ) {
      pending--;
    }
  }
  return { started, max };
}

export async function historyFigures(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<{ figures: HistoryFigures; history: History }> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const [history, description] = await Promise.all([handle.fetchHistory(), handle.describe()]);
  const events = history.events ?? [];
  const children = maxPendingChildren(events);
  const figures: HistoryFigures = {
    workflowId,
    runId: description.runId,
    events: events.length,
    bytes: encodedSize(history),
    describedLength: description.historyLength,
    describedSize: description.historySize,
    childrenStarted: children.started,
    maxPendingChildren: children.max,
  };
  return { figures, history };
}

/** Every run of a workflow from `firstRunId` on, following each run's continued-as-new event. */
export async function runChain(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<HistoryFigures[]> {
  const runs: HistoryFigures[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    const { figures, history }: { figures: HistoryFigures; history: History } = await historyFigures(
      client,
      workflowId,
      runId,
    );
    runs.push(figures);
    const last = history.events?.[history.events.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

/** Each activity of a history that completed, with its latencies. */
export function activityLatencies(history: History): ActivityLatency[] {
  const scheduled = new Map<number, { type: string; at: number }>();
  const started = new Map<number, number>();
  const latencies: ActivityLatency[] = [];
  for (const e of history.events ?? []) {
    const id = Number(e.eventId ?? 0);
    if (e.activityTaskScheduledEventAttributes) {
      const type = e.activityTaskScheduledEventAttributes.activityType?.name ?? '';
      scheduled.set(id, { type, at: millis(e.eventTime) });
    } else if (e.activityTaskStartedEventAttributes) {
      started.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId ?? 0), millis(e.eventTime));
    } else if (e.activityTaskCompletedEventAttributes) {
      const from = Number(e.activityTaskCompletedEventAttributes.scheduledEventId ?? 0);
      const sched = scheduled.get(from);
      const start = started.get(from);
      if (!sched || start === undefined) continue;
      const done = millis(e.eventTime);
      latencies.push({
        activityType: sched.type,
        queueMs: start - sched.at,
        runMs: done - start,
        totalMs: done - sched.at,
      });
    }
  }
  return latencies;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
