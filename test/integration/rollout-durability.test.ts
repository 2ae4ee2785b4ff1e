/**
 * Rollouts that survive their infrastructure: the worker process is killed with
 * SIGKILL while hosts install Docker, and the Temporal server is stopped and
 * restarted on the same SQLite file mid-rollout. Both rollouts complete, every
 * host ends correct, and no step that finished runs again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startFleet, stopFleet, type FleetInfo } from '../../src/fleet';
import { ensureHelloImage, HELLO_OUTPUT } from '../../src/fleet/hello-image';
import { startMirror, stopMirror, type MirrorInfo } from '../../src/fleet/mirror';
import { loadInventory } from '../../src/inventory';
import { toDocument } from '../../src/cli/inventory';
import { childWorkflowId } from '../../src/rollout/ids';
import { progressQuery, type RolloutProgress } from '../../src/rollout/messages';
import { SshPool } from '../../src/ssh';
import { targetOf } from '../../src/target';
import { startDevServer, type DevServer } from '../../src/temporal/devserver';
import type { rollout } from '../../workflows/rollout';
import { uniqueName } from './harness';

const REPO = path.resolve(__dirname, '..', '..');
const { EventType: Events } = temporal.api.enums.v1;
const EventType = {
  scheduled: Events.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
  started: Events.EVENT_TYPE_ACTIVITY_TASK_STARTED,
  completed: Events.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
} as const;

let dir: string;
let server: DevServer;
let fleet: FleetInfo;
let mirror: MirrorInfo;
let pool: SshPool;
const fleetName = uniqueName('durable').slice(0, 32);
const taskQueue = uniqueName('durable-tq');
const workers: ChildProcess[] = [];

/** The worker as its own process group, so SIGKILL takes tsx and the node process it runs. */
function startWorkerProcess(address: string): ChildProcess {
  const log = openSync(path.join(dir, `worker-${workers.length + 1}.log`), 'a');
  const child = spawn(path.join(REPO, 'node_modules', '.bin', 'tsx'), ['workers/main.ts'], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      ROLLBOOK_TASK_QUEUE: taskQueue,
      ROLLBOOK_KNOWN_HOSTS: fleet.knownHostsFile,
    },
  });
  workers.push(child);
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function connect(): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: server.address });
  return { client: new Client({ connection }), connection };
}

async function startRollout(client: Client, limit: string): Promise<WorkflowHandle<typeof rollout>> {
  const inventory = toDocument(await loadInventory(fleet.inventoryFile));
  return client.workflow.start<typeof rollout>('rollout', {
    taskQueue,
    workflowId: uniqueName('durable-rollout'),
    args: [
      {
        inventory,
        limit,
        chapters: [
          { name: 'mirror', params: { url: mirror.url, signingKey: mirror.armoredKey } },
          { name: 'docker', params: {} },
        ],
        policy: { maxInFlight: 3 },
      },
    ],
  });
}

async function waitFor(
  handle: WorkflowHandle,
  test: (p: RolloutProgress) => boolean,
): Promise<RolloutProgress> {
  for (let i = 0; i < 600; i++) {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (progress && test(progress)) return progress;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('rollout never reached the expected state');
}

const installing = (p: RolloutProgress) => Object.values(p.hosts).some((h) => h.step === 'packages');

interface StepRun {
  step: string;
  scheduled: number;
  attempts: number[];
  completedAt?: number;
}

/** Every runStep activity of one host's child workflow: how often it was scheduled and started. */
async function stepRuns(client: Client, rolloutId: string, host: string): Promise<Map<string, StepRun>> {
  const history = await client.workflow.getHandle(childWorkflowId(rolloutId, host)).fetchHistory();
  const runs = new Map<string, StepRun>();
  const bySchedule = new Map<string, StepRun>();
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    if (event.eventType === EventType.scheduled) {
      const attrs =
        event.activityTaskScheduledEventAttributes as temporal.api.history.v1.IActivityTaskScheduledEventAttributes;
      if (attrs.activityType?.name !== 'runStep') continue;
      const payload = attrs.input?.payloads?.[0]?.data;
      const input = JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as {
        chapter: string;
        step: string;
      };
      const key = `${input.chapter}/${input.step}`;
      const run = runs.get(key) ?? { step: key, scheduled: 0, attempts: [] };
      run.scheduled++;
      runs.set(key, run);
      bySchedule.set(id, run);
    } else if (event.eventType === EventType.started) {
      const run = bySchedule.get(String(event.activityTaskStartedEventAttributes?.scheduledEventId));
      run?.attempts.push(event.activityTaskStartedEventAttributes?.attempt ?? 0);
    } else if (event.eventType === EventType.completed) {
      const run = bySchedule.get(String(event.activityTaskCompletedEventAttributes?.scheduledEventId));
      if (run) run.completedAt = Number(event.eventTime?.seconds ?? 0) * 1000;
    }
  }
  return runs;
}

async function expectHelloOn(host: string): Promise<void> {
  const target = targetOf((await loadInventory(fleet.inventoryFile)).hosts[host]!);
  const run = await pool.run(target, 'docker run --rm rollbook/hello:1');
  expect(run.stdout.trim()).toBe(HELLO_OUTPUT);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rollbook-durable-'));
  server = await startDevServer({ dbFile: path.join(dir, 'temporal.db') });
  fleet = await startFleet({ name: fleetName, count: 6, kind: 'systemd', internal: true });
  mirror = await startMirror({ network: fleet.network, name: fleetName });
  await ensureHelloImage();
  pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
});

afterAll(async () => {
  for (const worker of workers) killGroup(worker, 'SIGKILL');
  await pool?.close();
  await server?.stop();
  await stopMirror(fleetName);
  await stopFleet(fleetName);
});

it('completes after the worker is killed with SIGKILL mid-install, never re-running a finished step', async () => {
  const { client, connection } = await connect();
  try {
    const first = startWorkerProcess(server.address);
    const handle = await startRollout(client, 'h1:h2:h3');
    await waitFor(handle, installing);
    await new Promise((r) => setTimeout(r, 2_000));
    const killedAt = Date.now();
    killGroup(first, 'SIGKILL');
    startWorkerProcess(server.address);

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'succeeded', counts: { succeeded: 3 } });
    for (const host of ['h1', 'h2', 'h3']) await expectHelloOn(host);

    let retriedAfterKill = 0;
    for (const host of ['h1', 'h2', 'h3']) {
      for (const run of (await stepRuns(client, result.rolloutId, host)).values()) {
        // Each step is one activity: scheduled once, and once completed it is never started again.
        expect(run.scheduled).toBe(1);
        expect(run.completedAt).toBeDefined();
        if (run.completedAt! < killedAt - 1_000) expect(run.attempts).toEqual([1]);
        // History keeps only the last attempt's start event, with its attempt number.
        if (run.attempts.some((attempt) => attempt > 1)) retriedAfterKill++;
      }
    }
    // The steps the dead worker held were noticed (heartbeat timeout) and run again by the new one.
    expect(retriedAfterKill).toBeGreaterThan(0);
  } finally {
    await connection.close();
  }
});

it('completes after the Temporal server is stopped and restarted on the same SQLite file', async () => {
  let { client, connection } = await connect();
  const handle = await startRollout(client, 'h4:h5:h6');
  await waitFor(handle, installing);
  const rolloutId = handle.workflowId;
  await connection.close();

  await server.stop();
  await new Promise((r) => setTimeout(r, 3_000));
  server = await startDevServer({ port: server.port, dbFile: path.join(dir, 'temporal.db') });

  ({ client, connection } = await connect());
  try {
    const result = await client.workflow.getHandle<typeof rollout>(rolloutId).result();
    expect(result).toMatchObject({ status: 'succeeded', counts: { succeeded: 3 } });
    for (const host of ['h4', 'h5', 'h6']) await expectHelloOn(host);
  } finally {
    await connection.close();
  }
});
