/**
 * The whole chain once: CLI and client → Temporal → worker → pooled SSH → real
 * sshd hosts, with one child workflow per host.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { toDocument } from '../../src/cli/inventory';
import { startFleet, startHost, stopFleet, stopHost, type FleetInfo } from '../../src/fleet';
import { loadInventory } from '../../src/inventory';
import type { RollbookWorker } from '../../workers/worker';
import type { FactsReport, facts } from '../../workflows/facts';
import { connectTestEnv, startWorker, temporalAddress, uniqueName } from './harness';

const run = promisify(execFile);
const ROLLBOOK = path.resolve(__dirname, '..', '..', 'bin', 'rollbook');

async function rollbook(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(ROLLBOOK, args, {
      env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress() },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('facts workflow', () => {
  const fleetName = uniqueName('facts');
  const taskQueue = uniqueName('facts-tq');
  let fleet: FleetInfo;
  let env: TestWorkflowEnvironment;
  let client: Client;
  let worker: RollbookWorker;
  let running: Promise<void>;

  beforeAll(async () => {
    fleet = await startFleet({ name: fleetName, count: 3 });
    env = await connectTestEnv();
    client = env.client;
    worker = await startWorker(taskQueue, fleet.knownHostsFile);
    running = worker.worker.run();
  });

  afterAll(async () => {
    worker?.worker.shutdown();
    await running;
    await worker?.close();
    await env?.teardown();
    await stopFleet(fleetName);
  });

  async function factsOn(limit: string): Promise<FactsReport> {
    const document = toDocument(await loadInventory(fleet.inventoryFile));
    const report = await client.workflow.execute<typeof facts>('facts', {
      taskQueue,
      workflowId: uniqueName('facts-wf'),
      args: [{ inventory: document, limit }],
    });
    return report;
  }

  it('gathers OS, kernel, architecture, init system and Docker presence on every host', async () => {
    const report = await factsOn('all');
    expect(report.failed).toBe(0);
    expect(report.hosts.map((h) => h.host)).toEqual(['h1', 'h2', 'h3']);
    for (const outcome of report.hosts) {
      if (outcome.status !== 'ok') throw new Error(`${outcome.host}: ${outcome.error}`);
      expect(outcome.facts).toMatchObject({
        osId: 'debian',
        osVersion: '12',
        osCodename: 'bookworm',
        kernel: os.release(),
        arch: os.machine(),
        init: 'none',
        docker: { installed: false },
      });
    }
  });

  it('runs one child workflow per host with a business id', async () => {
    const workflowId = uniqueName('facts-ids');
    const document = toDocument(await loadInventory(fleet.inventoryFile));
    await client.workflow.execute('facts', {
      taskQueue,
      workflowId,
      args: [{ inventory: document, limit: 'h2' }],
    });
    const child = await client.workflow.getHandle(`${workflowId}--h2`).describe();
    expect(child.type).toBe('hostFacts');
    expect(child.parentExecution?.workflowId).toBe(workflowId);
  });

  it('reports a host that is down as failed and still gathers the others', async () => {
    await stopHost(fleet, 'h3');
    try {
      const report = await factsOn('all');
      expect(report.ok).toBe(2);
      expect(report.failed).toBe(1);
      const h3 = report.hosts.find((h) => h.host === 'h3');
      expect(h3).toMatchObject({ status: 'failed' });
      expect(h3?.status === 'failed' && h3.error).toMatch(/h3/);
    } finally {
      await startHost(fleet, 'h3');
    }
  });

  it('prints a table from the CLI and exits 0', async () => {
    const result = await rollbook([
      'facts',
      '--inventory',
      fleet.inventoryFile,
      '--limit',
      'h1:h2',
      '--task-queue',
      taskQueue,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/h1 .*ok.*Debian GNU\/Linux 12/);
    expect(result.stdout).toMatch(/h2 .*ok/);
    expect(result.stdout).not.toMatch(/h3/);
  });

  it('exits 2 on a malformed inventory and a pattern that matches nothing, starting nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rollbook-facts-'));
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'hosts:\n  h1: { port: 99999 }\n');
    const bad = await rollbook(['facts', '--inventory', broken, '--task-queue', taskQueue]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(broken);
    const none = await rollbook([
      'facts',
      '--inventory',
      fleet.inventoryFile,
      '--limit',
      'nosuchhost',
      '--task-queue',
      taskQueue,
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/matches no host/);
  });

  it('exits 3 when Temporal is unreachable', async () => {
    const result = await rollbook(['facts', '--inventory', fleet.inventoryFile, '--address', '127.0.0.1:1']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Temporal is unreachable at 127\.0\.0\.1:1/);
  });
});
