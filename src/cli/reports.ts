/**
 * After a rollout: each host's step reports, read from its child workflow, for
 * the plan's diffs and for the JUnit file Jenkins reads.
 */
import { writeFileSync } from 'node:fs';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import junit from 'junit-report-builder';
import type { RolloutResult } from '../../workflows/rollout';
import type { HostRunbookResult } from '../../workflows/host-runbook';
import { childWorkflowId } from '../rollout/ids';
import type { StepReport } from '../steps/model';

export interface HostReports {
  host: string;
  state: string;
  reason?: string;
  reports: StepReport[];
}

async function readChild(client: Client, rolloutId: string, host: string): Promise<StepReport[]> {
  try {
    const result = (await client.workflow
      .getHandle(childWorkflowId(rolloutId, host))
      .result()) as HostRunbookResult;
    return result.reports;
  } catch (err) {
    const details =
      err instanceof WorkflowFailedError ? (err.cause as { details?: unknown[] })?.details : undefined;
    const first = details?.[0] as { reports?: StepReport[] } | undefined;
    return first?.reports ?? [];
  }
}

export async function collectReports(client: Client, result: RolloutResult): Promise<HostReports[]> {
  return Promise.all(
    Object.entries(result.hosts).map(async ([host, progress]) => ({
      host,
      state: progress.state,
      ...(progress.reason ? { reason: progress.reason } : {}),
      reports: progress.state === 'not-started' ? [] : await readChild(client, result.rolloutId, host),
    })),
  );
}

/** The plan as an operator reads it: every change, with file diffs, grouped by host. */
export function formatPlan(hosts: HostReports[]): string {
  const lines: string[] = [];
  for (const host of hosts) {
    const changed = host.reports.filter((r) => r.status !== 'ok');
    lines.push(
      `== ${host.host}: ${host.state}${host.reason ? ` (${host.reason})` : ''}, ${changed.length} steps would change`,
    );
    for (const report of changed) {
      lines.push(
        `  ${report.chapter}/${report.step}: ${report.status}${report.reason ? ` (${report.reason})` : ''}`,
      );
      for (const change of report.changes) {
        lines.push(`    ${change.kind} ${change.target}: ${change.action}`);
        if (change.diff)
          lines.push(
            ...change.diff
              .trimEnd()
              .split('\n')
              .map((l) => `      ${l}`),
          );
      }
    }
  }
  return lines.join('\n');
}

/** One test suite per rollout, one test case per host and step; hosts never started are skipped cases. */
export function writeJunit(file: string, result: RolloutResult, hosts: HostReports[]): void {
  const builder = junit.newBuilder();
  const suite = builder.testSuite().name(`rollbook ${result.rolloutId}`);
  for (const host of hosts) {
    if (host.state === 'not-started') {
      suite.testCase().className(host.host).name('not started').skipped();
      continue;
    }
    for (const report of host.reports) {
      const testCase = suite
        .testCase()
        .className(host.host)
        .name(`${report.chapter}/${report.step}`)
        .time(report.durationMs / 1000);
      testCase.standardOutput(
        report.changes.map((c) => `${c.kind} ${c.target}: ${c.action}\n${c.diff ?? ''}`).join('\n'),
      );
      if (report.status === 'failed') testCase.failure(report.reason ?? 'failed', 'StepFailed');
      if (report.status === 'skipped') testCase.skipped();
    }
    if (host.state === 'failed' && !host.reports.some((r) => r.status === 'failed')) {
      suite
        .testCase()
        .className(host.host)
        .name('host')
        .failure(host.reason ?? 'failed', 'HostFailed');
    }
  }
  writeFileSync(file, builder.build());
}
