/**
 * The rollout at fleet scale: 1,000 simulated converged hosts (test/sim, each
 * replaying a real bookworm host's recorded answers on its own loopback
 * address), chapters 1 and 2, through the run's Temporal server and a worker of
 * this file's own. Afterwards every run of the rollout and a sample of its
 * children are read back, and their history lengths and sizes are held against
 * Temporal's warning limits.
 */
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client as SshClient } from 'ssh2';

import { parseFacts, FACTS_SCRIPT } from '../../src/facts';
import { childWorkflowId } from '../../src/rollout/ids';
import { FileTransferError, SshPool, type SshTarget } from '../../src/ssh';
import type { RollbookWorker } from '../../workers/worker';
import { mapLimit } from '../../workflows/concurrency';
import type { HostRunbookResult } from '../../workflows/host-runbook';
import type { rollout } from '../../workflows/rollout';
import { recordedLatency, simTarget, startSimFleet, type SimFleet } from '../sim/fleet';
import {
  HISTORY_BYTES_WARN,
  HISTORY_EVENTS_WARN,
  historyFigures,
  runChain,
  type HistoryFigures,
} from '../sim/history';
import { connectTestEnv, startWorker, uniqueName } from './harness';

const HOSTS = 1_000;
/** Children in flight: enough to keep the worker's 100 activity slots busy on two cores. */
const MAX_IN_FLIGHT = 100;
/** Temporal's limit on pending children per workflow. */
const PENDING_CHILDREN_LIMIT = 2_000;

function describeFigures(label: string, f: HistoryFigures): string {
  const size = f.describedSize === undefined ? '' : `, describe ${f.describedSize} B`;
  return (
    `${label}: ${f.events} events (describe ${f.describedLength}), ${(f.bytes / 1024).toFixed(0)} KiB${size}, ` +
    `${f.childrenStarted} children started, at most ${f.maxPendingChildren} pending`
  );
}

function expectBelowWarnings(f: HistoryFigures): void {
  expect(f.events).toBeLessThan(HISTORY_EVENTS_WARN);
  expect(f.describedLength).toBeLessThan(HISTORY_EVENTS_WARN);
  expect(f.bytes).toBeLessThan(HISTORY_BYTES_WARN);
  expect(f.describedSize ?? 0).toBeLessThan(HISTORY_BYTES_WARN);
}

describe('the simulated fleet', () => {
  let fleet: SimFleet;
  let pool: SshPool;
  let target: SshTarget;

  beforeAll(async () => {
    fleet = await startSimFleet({ count: 1, base: ['127.76', '127.86', '127.96'], latency: recordedLatency });
    pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
    target = simTarget(fleet, fleet.hosts[0]!);
  });

  afterAll(async () => {
    await pool?.close();
    await fleet?.close();
  });

  it('answers the recorded facts script as the converged bookworm host did', async () => {
    const facts = parseFacts((await pool.run(target, FACTS_SCRIPT)).stdout);
    expect(facts).toMatchObject({ osId: 'debian', osCodename: 'bookworm', init: 'systemd' });
    expect(facts.docker.serverVersion).toBe(fleet.recording.source.dockerServerVersion);
  });

  it('fails an unrecorded command with exit 127 and says so on stderr', async () => {
    const result = await pool.exec(target, 'rm -rf /var/lib/docker');
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toBe('sim: unrecorded command: rm -rf /var/lib/docker\n');
    expect(fleet.hosts[0]!.stats.unrecorded).toContain('command: rm -rf /var/lib/docker');
  });

  it('serves recorded files over SFTP, read-only, and refuses unrecorded ones', async () => {
    expect((await pool.readFile(target, '/etc/os-release'))?.toString()).toContain(
      'VERSION_CODENAME=bookworm',
    );
    expect(await pool.readFile(target, '/etc/apt/sources.list')).toBeNull();
    await expect(pool.readFile(target, '/etc/shadow')).rejects.toThrow(FileTransferError);
    await expect(pool.writeFile(target, '/etc/motd', 'hi\n')).rejects.toThrow(/unrecorded sftp/);
  });

  it('refuses the eleventh session on one connection, as OpenSSH does with MaxSessions 10', async () => {
    const client = new SshClient();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({
        host: target.address,
        port: target.port,
        username: 'root',
        privateKey: fleet.privateKey,
      });
    });
    const open = () =>
      new Promise<boolean>((resolve) => client.sftp((err) => resolve(err === undefined || err === null)));
    try {
      const outcomes: boolean[] = [];
      for (let i = 0; i < 11; i++) outcomes.push(await open());
      expect(outcomes).toEqual([...Array<boolean>(10).fill(true), false]);
      expect(fleet.hosts[0]!.stats.refusedSessions).toBe(1);
    } finally {
      client.end();
    }
  });
});

describe(`a rollout of chapters 1 and 2 over ${HOSTS} simulated converged hosts`, () => {
  const taskQueue = uniqueName('scale-tq');
  let fleet: SimFleet;
  let env: TestWorkflowEnvironment;
  let client: Client;
  let worker: RollbookWorker;
  let running: Promise<void>;

  beforeAll(async () => {
    const started = Date.now();
    fleet = await startSimFleet({
      count: HOSTS,
      base: ['127.77', '127.87', '127.97'],
      latency: recordedLatency,
    });
    env = await connectTestEnv();
    client = env.client;
    worker = await startWorker(taskQueue, fleet.knownHostsFile);
    running = worker.worker.run();
    console.log(`${HOSTS} simulated hosts and the worker up in ${Date.now() - started} ms`);
  }, 120_000);

  afterAll(async () => {
    if (worker) {
      worker.worker.shutdown();
      await running;
      await worker.close();
    }
    await env?.teardown();
    await fleet?.close();
  }, 120_000);

  it('succeeds on every host with only ok and skipped steps, each host probed exactly once, histories under the warning limits', async () => {
    const workflowId = uniqueName('scale');
    const started = Date.now();
    const handle = await client.workflow.start<typeof rollout>('rollout', {
      taskQueue,
      workflowId,
      args: [
        {
          inventory: fleet.inventory,
          chapters: fleet.recording.chapters,
          policy: { maxInFlight: MAX_IN_FLIGHT },
        },
      ],
    });
    const result = await handle.result();
    const wallMs = Date.now() - started;
    console.log(
      `rollout of ${HOSTS} hosts (maxInFlight ${MAX_IN_FLIGHT}): ${(wallMs / 1000).toFixed(1)} s, ` +
        `${((HOSTS / wallMs) * 60_000).toFixed(0)} hosts/min`,
    );

    expect(result.status).toBe('succeeded');
    expect(result.counts.succeeded).toBe(HOSTS);
    expect(Object.values(result.hosts).filter((h) => h.changed !== 0)).toEqual([]);

    const reports = await mapLimit(fleet.hosts, 20, async (host) => {
      const child = client.workflow.getHandle(childWorkflowId(workflowId, host.host));
      return ((await child.result()) as HostRunbookResult).reports;
    });
    const statuses = new Map<string, number>();
    for (const r of reports.flat()) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    console.log(`step statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect([...statuses.keys()].sort()).toEqual(['ok', 'skipped']);
    expect(reports.every((r) => r.length === fleet.recording.steps.length)).toBe(true);

    // One converged pass per host, no more: no step ran twice, across continue-as-new included.
    const totals = fleet.totals();
    expect(totals.unrecorded).toEqual([]);
    expect(fleet.hosts.filter((h) => h.stats.commands !== fleet.commandsPerPass).map((h) => h.host)).toEqual(
      [],
    );
    expect(totals.refusedSessions).toBe(0);
    console.log(
      `simulator: ${totals.commands} commands over ${totals.connections} connections, ` +
        `at most ${totals.peakSessions} sessions at once on one connection`,
    );

    const runs = await runChain(client, workflowId, handle.firstExecutionRunId);
    runs.forEach((run, i) => console.log(describeFigures(`rollout run ${i + 1}/${runs.length}`, run)));
    runs.forEach(expectBelowWarnings);
    // The per-host counts above show that continuing as new lost no progress and repeated no host.
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.reduce((n, r) => n + r.childrenStarted, 0)).toBe(HOSTS);
    const maxPending = Math.max(...runs.map((r) => r.maxPendingChildren));
    expect(maxPending).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(maxPending).toBeLessThan(PENDING_CHILDREN_LIMIT);

    const sample = [0, 1, 99, 100, 499, 500, 777, 998, 999].map((i) => fleet.hosts[i]!.host);
    const children = await mapLimit(sample, 5, async (host) => {
      const { figures } = await historyFigures(client, childWorkflowId(workflowId, host));
      return figures;
    });
    children.forEach((f) => console.log(describeFigures(`child ${f.workflowId.split('--').pop()}`, f)));
    children.forEach(expectBelowWarnings);
  }, 600_000);
});
