/**
 * The rollout's signals, queries and updates, and the shapes they carry. Defined
 * outside the workflow file so clients (CLI, tests) import them without pulling
 * in workflow code. Safe in workflow code.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { failureThresholdSchema, wavesSchema } from './policy';

export type HostState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'not-started';

export interface HostProgress {
  state: HostState;
  /** 1-based wave the host belongs to. */
  wave: number;
  chapter?: string;
  step?: string;
  /** Steps that reported `changed` (in check mode: would change). */
  changed?: number;
  /** Why the host failed, was cancelled or was not started. */
  reason?: string;
}

export type RolloutPhase =
  'running' | 'paused' | 'awaiting-approval' | 'draining' | 'succeeded' | 'failed' | 'stopped' | 'cancelled';

export interface RolloutProgress {
  phase: RolloutPhase;
  /** 1-based number of the wave running or, while awaiting approval, the one waiting to start. */
  wave: number;
  waves: number;
  counts: Record<HostState, number>;
  hosts: Record<string, HostProgress>;
  approvals: ApprovalRecord[];
  /** Why the rollout stopped early, when it did. */
  stopReason?: string;
}

const approverSchema = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'expected an approver name of letters, digits, ".", "_", "@" or "-"');

export const approvalSchema = z
  .object({
    /** Who approves: checked against the rollout's `approval.approvers` when that list is set. */
    approver: approverSchema,
    /** The 1-based wave being approved; must be the wave that is waiting. */
    wave: z.number().int().positive(),
    comment: z.string().max(500).optional(),
  })
  .strict();

export type Approval = z.infer<typeof approvalSchema>;

export interface ApprovalRecord extends Approval {
  via: 'update' | 'signal';
}

export const policyChangeSchema = z
  .object({
    waves: wavesSchema.optional(),
    maxInFlight: z.number().int().min(1).max(500).optional(),
    failureThreshold: failureThresholdSchema.nullable().optional(),
  })
  .strict()
  .refine(
    (change) => Object.keys(change).length > 0,
    'expected at least one of waves, maxInFlight, failureThreshold',
  );

export type PolicyChange = z.infer<typeof policyChangeSchema>;

/** A host's child workflow reports the step it starts. */
export interface HostStepEvent {
  host: string;
  chapter: string;
  step: string;
}

/** One thing that happened to a host, numbered in the order the rollout saw it. */
export interface HostEvent {
  seq: number;
  host: string;
  /** The host's new state, or `step` when it started a step. */
  kind: HostState | 'step';
  chapter?: string;
  step?: string;
  reason?: string;
}

export interface HostEventsPage {
  events: HostEvent[];
  /** Pass this as `since` next time. */
  next: number;
  /** Events older than the rollout keeps in memory, skipped since `since`. */
  dropped: number;
}

export const progressQuery = defineQuery<RolloutProgress>('progress');
/** Host events with `seq >= since`, for live progress that misses nothing between polls. */
export const hostEventsQuery = defineQuery<HostEventsPage, [number]>('hostEvents');
export const approveWaveUpdate = defineUpdate<RolloutProgress, [Approval]>('approveWave');
export const approveWaveSignal = defineSignal<[Approval]>('approveWave');
export const changePolicyUpdate = defineUpdate<RolloutProgress, [PolicyChange]>('changePolicy');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const hostStepSignal = defineSignal<[HostStepEvent]>('hostStep');
