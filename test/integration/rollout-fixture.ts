/**
 * A fleet for rollout tests: systemd hosts on a network with no route outside,
 * the offline mirror as their only package source, and a worker of the test's own.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { toDocument } from '../../src/cli/inventory';
import { startFleet, stopFleet, type FleetInfo } from '../../src/fleet';
import { ensureHelloImage } from '../../src/fleet/hello-image';
import { startMirror, stopMirror, type MirrorInfo } from '../../src/fleet/mirror';
import { loadInventory } from '../../src/inventory';
import { collectReports } from '../../src/cli/reports';
import type { RolloutInput } from '../../src/rollout/input';
import { progressQuery, type RolloutProgress } from '../../src/rollout/messages';
import { SshPool } from '../../src/ssh';
import type { StepReport } from '../../src/steps/model';
import { targetOf, type HostTarget } from '../../src/target';
import type { RollbookWorker } from '../../workers/worker';
import type { rollout, RolloutResult } from '../../workflows/rollout';
import { connectTestEnv, startWorker, uniqueName } from './harness';

export interface RolloutFixture {
  fleet: FleetInfo;
  mirror: MirrorInfo;
  env: TestWorkflowEnvironment;
  client: Client;
  taskQueue: string;
  pool: SshPool;
  /** The fleet's inventory as a workflow input carries it (reloaded after hosts are added). */
  inventory(): Promise<unknown>;
  target(host: string): Promise<HostTarget>;
  chapters(): RolloutInput['chapters'];
  start(input: Partial<RolloutInput>, id?: string): Promise<WorkflowHandle<typeof rollout>>;
  /** Each host's step reports, read from its child workflow. */
  reports(result: RolloutResult): Promise<Record<string, StepReport[]>>;
  waitFor(
    handle: WorkflowHandle,
    test: (p: RolloutProgress) => boolean,
    timeoutMs?: number,
  ): Promise<RolloutProgress>;
  close(): Promise<void>;
}

export async function startRolloutFixture(prefix: string, hosts: number): Promise<RolloutFixture> {
  const name = uniqueName(prefix).slice(0, 32);
  const fleet = await startFleet({ name, count: hosts, kind: 'systemd', internal: true });
  const mirror = await startMirror({ network: fleet.network, name });
  await ensureHelloImage();
  const env = await connectTestEnv();
  const taskQueue = uniqueName(`${prefix}-tq`);
  const worker: RollbookWorker = await startWorker(taskQueue, fleet.knownHostsFile);
  const running = worker.worker.run();
  const pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
  const client = env.client;

  const fixture: RolloutFixture = {
    fleet,
    mirror,
    env,
    client,
    taskQueue,
    pool,
    inventory: async () => toDocument(await loadInventory(fleet.inventoryFile)),
    target: async (host) => {
      const entry = (await loadInventory(fleet.inventoryFile)).hosts[host];
      if (!entry) throw new Error(`no host ${host} in ${fleet.inventoryFile}`);
      return targetOf(entry);
    },
    chapters: () => [
      {
        name: 'mirror',
        params: { url: mirror.url, components: mirror.components, signingKey: mirror.armoredKey },
      },
      { name: 'docker', params: { users: [] } },
    ],
    start: async (input, id) =>
      client.workflow.start<typeof rollout>('rollout', {
        taskQueue,
        workflowId: id ?? uniqueName(prefix),
        args: [{ inventory: await fixture.inventory(), chapters: fixture.chapters(), ...input }],
      }),
    reports: async (result) =>
      Object.fromEntries((await collectReports(client, result)).map((host) => [host.host, host.reports])),
    waitFor: (handle, test, timeoutMs = 120_000) => waitForProgress(handle, test, timeoutMs),
    close: async () => {
      worker.worker.shutdown();
      await running;
      await worker.close();
      await pool.close();
      await env.teardown();
      await stopMirror(name);
      await stopFleet(name);
    },
  };
  return fixture;
}

async function waitForProgress(
  handle: WorkflowHandle,
  test: (p: RolloutProgress) => boolean,
  timeoutMs: number,
): Promise<RolloutProgress> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutProgress | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(progressQuery);
      if (test(last)) return last;
    } catch {
      // The first workflow task has not run yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`rollout progress never matched; last: ${JSON.stringify(last)}`);
}
