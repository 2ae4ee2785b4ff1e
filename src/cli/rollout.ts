/**
 * `rollbook run rollout`, `rollbook plan` and the commands that steer a running
 * rollout (status, approve, pause, resume, cancel).
 */
import { readFileSync } from 'node:fs';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { rolloutInputSchema, type RolloutInput } from '../rollout/input';
import {
  approveWaveUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  type RolloutProgress,
} from '../rollout/messages';
import { formatIssues } from '../validation';
import type { RolloutResult } from '../../workflows/rollout';
import { CliError, EXIT } from './errors';
import { readInventory } from './inventory';
import { collectReports, formatPlan, writeJunit } from './reports';
import { applySets } from './sets';
import type { TemporalOptions } from './temporal';
import { watchRollout } from './watch';

export interface RolloutCommandOptions extends TemporalOptions {
  inventory?: string;
  input?: string;
  limit: string;
  chapters?: string;
  set: string[];
  waves?: string;
  maxInFlight?: string;
  failureThreshold?: string;
  approval: boolean;
  approvers?: string;
  acceptNewHostKeys: boolean;
  id?: string;
  wait: boolean;
  junit?: string;
  taskQueue: string;
}

function parseNumberOrPercent(value: string): number | string {
  return /^-?[0-9]+$/.test(value) ? Number(value) : value;
}

function parseWaves(value: string): unknown {
  if (value.startsWith('[')) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return parseNumberOrPercent(value);
}

function invalid(problems: string[]): CliError {
  return new CliError(`invalid input:\n${problems.map((p) => `  - ${p}`).join('\n')}`, EXIT.invalidInput);
}

/** Builds the workflow input from flags (or `--input FILE`), validated exactly as the workflow will. */
export async function buildRolloutInput(
  opts: RolloutCommandOptions,
  checkMode: boolean,
): Promise<RolloutInput> {
  if (opts.input)
    return validateInput({
      ...(JSON.parse(readFileSync(opts.input, 'utf8')) as object),
      ...(checkMode ? { checkMode } : {}),
    });
  if (!opts.inventory || !opts.chapters)
    throw invalid(['--inventory and --chapters are required (or --input FILE)']);
  const chapterNames = opts.chapters.split(',').filter(Boolean);
  const { params, problems } = applySets(opts.set, chapterNames);
  if (problems.length) throw invalid(problems);
  const { document } = await readInventory(opts.inventory, opts.limit);
  const policy: Record<string, unknown> = {};
  if (opts.waves) policy.waves = parseWaves(opts.waves);
  if (opts.maxInFlight) policy.maxInFlight = Number(opts.maxInFlight);
  if (opts.failureThreshold) policy.failureThreshold = parseNumberOrPercent(opts.failureThreshold);
  if (opts.approval) policy.approval = opts.approvers ? { approvers: opts.approvers.split(',') } : {};
  return validateInput({
    inventory: document,
    limit: opts.limit,
    chapters: chapterNames.map((name) => ({ name, params: params[name] ?? {} })),
    checkMode,
    hostKeyPolicy: opts.acceptNewHostKeys ? 'accept-new' : 'strict',
    policy,
  });
}

function validateInput(input: unknown): RolloutInput {
  const parsed = rolloutInputSchema.safeParse(input);
  if (!parsed.success) throw invalid(formatIssues(parsed.error));
  return input as RolloutInput;
}

function summarize(result: RolloutResult): string {
  const { counts } = result;
  const parts = [`${counts.succeeded} succeeded`, `${counts.failed} failed`];
  if (counts['not-started']) parts.push(`${counts['not-started']} not started`);
  if (counts.cancelled) parts.push(`${counts.cancelled} cancelled`);
  return `rollout ${result.rolloutId}: ${result.status}: ${parts.join(', ')}${result.stopReason ? ` (${result.stopReason})` : ''}`;
}

export async function runRollout(
  client: Client,
  opts: RolloutCommandOptions,
  checkMode: boolean,
): Promise<number> {
  const input = await buildRolloutInput(opts, checkMode);
  const workflowId =
    opts.id ?? `${checkMode ? 'plan' : 'rollout'}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const chapters = input.chapters.map((c) => c.name).join(', ');
  const handle = await client.workflow.start('rollout', {
    taskQueue: opts.taskQueue,
    workflowId,
    args: [input],
    staticSummary: `${checkMode ? 'plan' : 'rollout'} of ${chapters} on ${input.limit ?? 'all'}`,
    staticDetails: `Chapters: ${chapters}\n\nHost pattern: \`${input.limit ?? 'all'}\`\n\nCheck mode: ${checkMode}`,
  });
  console.log(`started ${workflowId}`);
  if (!opts.wait && !checkMode) return EXIT.ok;

  const done = handle.result() as Promise<RolloutResult>;
  await watchRollout(handle, done);
  let result: RolloutResult;
  try {
    result = await done;
  } catch (err) {
    throw workflowError(workflowId, err);
  }
  const reports = await collectReports(client, result);
  if (checkMode) console.log(formatPlan(reports));
  if (opts.junit) writeJunit(opts.junit, result, reports);
  console.log(summarize(result));
  return result.status === 'succeeded' ? EXIT.ok : EXIT.hostsFailed;
}

function workflowError(workflowId: string, err: unknown): CliError {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause as { type?: string; message?: string } | undefined;
    const code = cause?.type === 'InputError' ? EXIT.invalidInput : EXIT.hostsFailed;
    return new CliError(
      `${workflowId} failed: ${cause?.message ?? err.message}`,
      code,
      `rollbook status ${workflowId}`,
    );
  }
  return new CliError(`${workflowId}: ${(err as Error).message}`, EXIT.hostsFailed);
}

export function formatProgress(id: string, progress: RolloutProgress): string {
  const lines = [`${id}: ${progress.phase}, wave ${progress.wave} of ${progress.waves}`];
  lines.push(
    `  ${Object.entries(progress.counts)
      .map(([state, n]) => `${state} ${n}`)
      .join(', ')}`,
  );
  for (const [host, p] of Object.entries(progress.hosts)) {
    const where = p.step ? ` ${p.chapter}/${p.step}` : '';
    lines.push(`  ${host}: ${p.state}${where}${p.reason ? ` (${p.reason})` : ''}`);
  }
  if (progress.stopReason) lines.push(`  stopped: ${progress.stopReason}`);
  return lines.join('\n');
}

export async function rolloutStatus(client: Client, id: string): Promise<number> {
  const progress = await client.workflow.getHandle(id).query(progressQuery);
  console.log(formatProgress(id, progress));
  return EXIT.ok;
}

export async function approveRollout(
  client: Client,
  id: string,
  opts: { wave: string; approver: string; comment?: string },
): Promise<number> {
  const approval = {
    approver: opts.approver,
    wave: Number(opts.wave),
    ...(opts.comment ? { comment: opts.comment } : {}),
  };
  try {
    await client.workflow.getHandle(id).executeUpdate(approveWaveUpdate, { args: [approval] });
  } catch (err) {
    throw new CliError(
      `approval refused: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}`,
      EXIT.invalidInput,
      `rollbook status ${id}`,
    );
  }
  console.log(`${id}: wave ${approval.wave} approved by ${approval.approver}`);
  return EXIT.ok;
}

export async function steerRollout(
  client: Client,
  id: string,
  action: 'pause' | 'resume' | 'cancel',
): Promise<number> {
  const handle = client.workflow.getHandle(id);
  if (action === 'cancel') await handle.cancel();
  else await handle.signal(action === 'pause' ? pauseSignal : resumeSignal);
  console.log(`${id}: ${action} requested`);
  return EXIT.ok;
}
