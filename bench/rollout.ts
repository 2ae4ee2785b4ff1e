/**
 * Throughput, per-step overhead and worker memory of a converged rollout of
 * chapters 1 and 2 against simulated hosts (test/sim):
 *
 *   npx tsx bench/rollout.ts [--hosts 6,50,200] [--max-in-flight 50]
 *
 * It starts its own Temporal dev server, a simulated fleet on 127.78.0.0/16
 * (127.88 or 127.98 when taken) with fresh hosts for every size, so every
 * rollout pays its SSH handshakes, and the worker as a child process
 * (workers/main.ts), whose resident memory it samples from /proc. Everything is torn down at the end. Figures only, no pass or fail:
 * bench/README.md has the targets and the last measurements.
 *
 * Overhead per step compares each step's activity (scheduled → completed in the
 * host's child history) with the same step run directly by the step runner on
 * the bench's own pooled connection to an idle simulated host: the difference
 * is what Temporal, the worker and a busy machine add to one step.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection, Client } from '@temporalio/client';

import { runChapterOnHost } from '../activities/chapters';
import { FACTS_SCRIPT, parseFacts } from '../src/facts';
import { childWorkflowId } from '../src/rollout/ids';
import { SshPool } from '../src/ssh';
import { startDevServer, type DevServer } from '../src/temporal/devserver';
import { inventoryOf, recordedLatency, simTarget, startSimFleet, type SimFleet } from '../test/sim/fleet';
import {
  activityLatencies,
  historyFigures,
  percentile,
  runChain,
  type ActivityLatency,
} from '../test/sim/history';
import type { SimHost } from '../test/sim/host';
import { mapLimit } from '../workflows/concurrency';
import type { HostRunbookResult } from '../workflows/host-runbook';
import type { rollout } from '../workflows/rollout';

const REPO_ROOT = path.resolve(__dirname, '..');
const TASK_QUEUE = 'bench-rollout';
/** Hosts of the warm-up rollout, which also waits for the worker to bundle its workflows. */
const WARM_UP_HOSTS = 2;
/** Direct runs of the pass on an idle host, for the bare step durations. */
const BARE_PASSES = 20;
const SAMPLE_EVERY_MS = 100;

interface BenchOptions {
  sizes: number[];
  maxInFlight: number;
}

function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { sizes: [6, 50, 200], maxInFlight: 50 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`);
    if (argv[i] === '--hosts') opts.sizes = value.split(',').map((v) => positive('--hosts', v));
    else if (argv[i] === '--max-in-flight') opts.maxInFlight = positive('--max-in-flight', value);
    else throw new Error(`unknown option ${argv[i]}; use --hosts 6,50,200 or --max-in-flight N`);
  }
  return opts;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs positive integers, got ${value}`);
  return n;
}

/** Resident memory of a process, sampled; also the kernel's high-water mark. */
class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  /** The highest sample since the last call, in bytes. */
  async takePeak(): Promise<number> {
    await this.sample();
    const peak = this.peak;
    this.peak = 0;
    return peak;
  }

  async highWater(): Promise<number> {
    return (await this.status()).get('VmHWM') ?? 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const rss = (await this.status()).get('VmRSS') ?? 0;
    this.peak = Math.max(this.peak, rss);
  }

  private async status(): Promise<Map<string, number>> {
    const text = await fs.readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => '');
    const values = new Map<string, number>();
    for (const match of text.matchAll(/^(Vm\w+):\s+(\d+) kB$/gm))
      values.set(match[1]!, Number(match[2]) * 1024);
    return values;
  }
}

/** workers/main.ts in a process of its own, so its RSS is the worker's alone. */
function spawnWorker(server: DevServer, fleet: SimFleet, logFile: string): Promise<ChildProcess> {
  return fs.open(logFile, 'w').then((log) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', log.fd, log.fd],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: server.address,
        ROLLBOOK_TASK_QUEUE: TASK_QUEUE,
        ROLLBOOK_KNOWN_HOSTS: fleet.knownHostsFile,
        ROLLBOOK_IMAGES_DIR: path.join(fleet.dir, 'images'),
      },
    });
    child.once('exit', () => void log.close());
    return child;
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** CPU seconds (user + system) a process has used so far; the bench's own process via process.cpuUsage(). */
async function cpuSeconds(pid: number): Promise<number> {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

interface CpuPids {
  server: number;
  worker: number;
}

async function cpuSnapshot(pids: CpuPids): Promise<CpuFigures> {
  const [server, worker, bench] = await Promise.all([
    cpuSeconds(pids.server),
    cpuSeconds(pids.worker),
    cpuSeconds(process.pid),
  ]);
  return { server, worker, bench };
}

/** CPU seconds of the Temporal server, the worker, and the bench process (which runs the simulated hosts). */
interface CpuFigures {
  server: number;
  worker: number;
  bench: number;
}

/** Median duration of each step (and of the facts script) run directly, without Temporal, on an idle host. */
async function bareStepDurations(fleet: SimFleet, host: SimHost): Promise<Map<string, number>> {
  const pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
  const target = simTarget(fleet, host);
  const samples = new Map<string, number[]>();
  const add = (key: string, ms: number) => samples.set(key, [...(samples.get(key) ?? []), ms]);
  try {
    await pool.run(target, FACTS_SCRIPT); // the handshake, outside the figures
    for (let i = 0; i < BARE_PASSES; i++) {
      const started = performance.now();
      const facts = parseFacts((await pool.run(target, FACTS_SCRIPT)).stdout);
      add('gatherFacts', performance.now() - started);
      for (const chapter of fleet.recording.chapters) {
        const reports = await runChapterOnHost({
          ssh: pool,
          target,
          facts,
          chapter: chapter.name,
          params: chapter.params,
        });
        for (const r of reports) add(`${r.chapter}/${r.step}`, r.durationMs);
      }
    }
  } finally {
    await pool.close();
  }
  return new Map([...samples].map(([key, values]) => [key, percentile(values, 50)]));
}

interface StepOverhead {
  key: string;
  bareMs: number;
  activityMs: number[];
}

interface SizeFigures {
  hosts: number;
  maxInFlight: number;
  wallMs: number;
  runs: number;
  maxRolloutEvents: number;
  activities: ActivityLatency[];
  overheads: StepOverhead[];
  /** Per host: child workflow run time minus the bare time of all its steps, divided by its steps. */
  childOverheadPerStep: number[];
  peakRss: number;
  cpu: CpuFigures;
}

/** Step keys of a child's activities, in order: facts first, then each report's chapter/step. */
function activityKeys(result: HostRunbookResult): string[] {
  return ['gatherFacts', ...result.reports.map((r) => `${r.chapter}/${r.step}`)];
}

async function measureSize(
  client: Client,
  fleet: SimFleet,
  hosts: SimHost[],
  opts: BenchOptions,
  bare: Map<string, number>,
  sampler: RssSampler,
  pids: CpuPids,
): Promise<SizeFigures> {
  const maxInFlight = Math.min(opts.maxInFlight, hosts.length);
  const workflowId = `bench-${hosts.length}-${Date.now().toString(36)}`;
  await sampler.takePeak();
  const cpuBefore = await cpuSnapshot(pids);
  const started = performance.now();
  const handle = await client.workflow.start<typeof rollout>('rollout', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [
      { inventory: inventoryOf(fleet, hosts), chapters: fleet.recording.chapters, policy: { maxInFlight } },
    ],
  });
  const result = await handle.result();
  const wallMs = performance.now() - started;
  const peakRss = await sampler.takePeak();
  const cpuAfter = await cpuSnapshot(pids);
  const cpu = {
    server: cpuAfter.server - cpuBefore.server,
    worker: cpuAfter.worker - cpuBefore.worker,
    bench: cpuAfter.bench - cpuBefore.bench,
  };
  if (result.status !== 'succeeded') throw new Error(`rollout ${workflowId} ended ${result.status}`);

  const runs = await runChain(client, workflowId, handle.firstExecutionRunId);
  const overheads = new Map<string, StepOverhead>();
  const activities: ActivityLatency[] = [];
  const childOverheadPerStep: number[] = [];
  await mapLimit(hosts, 10, async (host) => {
    const id = childWorkflowId(workflowId, host.host);
    const [{ history }, childResult] = await Promise.all([
      historyFigures(client, id),
      client.workflow.getHandle(id).result() as Promise<HostRunbookResult>,
    ]);
    const latencies = activityLatencies(history);
    const keys = activityKeys(childResult);
    latencies.forEach((latency, i) => {
      const key = keys[i] ?? latency.activityType;
      const entry = overheads.get(key) ?? { key, bareMs: bare.get(key) ?? 0, activityMs: [] };
      entry.activityMs.push(latency.totalMs);
      overheads.set(key, entry);
    });
    activities.push(...latencies);
    const events = history.events ?? [];
    const childMs = eventMillis(events[events.length - 1]) - eventMillis(events[0]);
    const bareTotal = keys.reduce((sum, key) => sum + (bare.get(key) ?? 0), 0);
    childOverheadPerStep.push((childMs - bareTotal) / keys.length);
  });
  return {
    hosts: hosts.length,
    maxInFlight,
    wallMs,
    runs: runs.length,
    maxRolloutEvents: Math.max(...runs.map((r) => r.events)),
    activities,
    overheads: [...overheads.values()],
    childOverheadPerStep,
    peakRss,
    cpu,
  };
}

function eventMillis(
  event: { eventTime?: { seconds?: unknown; nanos?: number | null } | null } | undefined,
): number {
  const time = event?.eventTime;
  if (!time) return 0;
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

function report(f: SizeFigures): void {
  const perMinute = (f.hosts / f.wallMs) * 60_000;
  const overheadAll = f.overheads.flatMap((o) => o.activityMs.map((a) => a - o.bareMs));
  console.log(
    `\n${f.hosts} hosts, maxInFlight ${f.maxInFlight}: ${(f.wallMs / 1000).toFixed(1)} s, ` +
      `${perMinute.toFixed(0)} hosts/min, ${f.runs} run(s) of the rollout (at most ${f.maxRolloutEvents} events), ` +
      `worker peak RSS ${mib(f.peakRss)}, load average ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const queue = f.activities.map((a) => a.queueMs);
  console.log(
    `  activities: ${f.activities.length}, scheduled→completed p50 ${ms(
      percentile(
        f.activities.map((a) => a.totalMs),
        50,
      ),
    )}, ` + `in the task queue p50 ${ms(percentile(queue, 50))} p95 ${ms(percentile(queue, 95))}`,
  );
  console.log(
    `  overhead per step over the bare step: p50 ${ms(percentile(overheadAll, 50))}, p95 ${ms(percentile(overheadAll, 95))}; ` +
      `child run time over bare, per step: p50 ${ms(percentile(f.childOverheadPerStep, 50))}`,
  );
  const { server, worker, bench } = f.cpu;
  console.log(
    `  CPU: Temporal server ${server.toFixed(1)} s, worker ${worker.toFixed(1)} s, simulated hosts and bench ${bench.toFixed(1)} s ` +
      `(${(((server + worker + bench) / f.wallMs) * 1000).toFixed(2)} of ${os.cpus().length} cores)`,
  );
  for (const o of f.overheads) {
    const p50 = percentile(o.activityMs, 50);
    console.log(
      `    ${o.key.padEnd(20)} bare ${ms(o.bareMs).padStart(9)}  activity p50 ${ms(p50).padStart(9)}  +${ms(p50 - o.bareMs)}`,
    );
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const total = WARM_UP_HOSTS + 1 + opts.sizes.reduce((a, b) => a + b, 0);
  console.log(
    `bench: sizes ${opts.sizes.join(', ')}, maxInFlight ${opts.maxInFlight}, ${os.cpus().length} CPUs`,
  );
  const server = await startDevServer();
  let fleet: SimFleet | undefined;
  let worker: ChildProcess | undefined;
  let connection: Connection | undefined;
  let sampler: RssSampler | undefined;
  try {
    fleet = await startSimFleet({
      count: total,
      base: ['127.78', '127.88', '127.98'],
      latency: recordedLatency,
    });
    const [bareHost, ...rest] = fleet.hosts as [SimHost, ...SimHost[]];
    const bare = await bareStepDurations(fleet, bareHost);
    console.log(`bare steps on the pooled connection (median of ${BARE_PASSES}):`);
    for (const [key, value] of bare) console.log(`  ${key.padEnd(20)} ${ms(value)}`);

    worker = await spawnWorker(server, fleet, path.join(fleet.dir, 'worker.log'));
    sampler = new RssSampler(worker.pid ?? -1);
    const pids: CpuPids = { server: server.pid, worker: worker.pid ?? -1 };
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });

    const warmUp = rest.splice(0, WARM_UP_HOSTS);
    const started = performance.now();
    await measureSize(client, fleet, warmUp, opts, bare, sampler, pids);
    console.log(
      `warm-up rollout of ${WARM_UP_HOSTS} hosts (worker start included): ${ms(performance.now() - started)}`,
    );

    for (const size of opts.sizes) {
      const hosts = rest.splice(0, size);
      report(await measureSize(client, fleet, hosts, opts, bare, sampler, pids));
    }
    console.log(`\nworker high-water RSS (VmHWM) over the whole bench: ${mib(await sampler.highWater())}`);
    const totals = fleet.totals();
    if (totals.unrecorded.length > 0)
      console.log(`unrecorded by the simulator: ${totals.unrecorded.slice(0, 5).join(' | ')}`);
  } finally {
    sampler?.stop();
    await connection?.close();
    if (worker) await stopWorker(worker);
    await fleet?.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
