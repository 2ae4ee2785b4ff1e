/**
 * Round trip of `true` (and of the facts probe, bare and through Temporal) on
 * fleet hosts, one section per way of running it:
 *
 *   npx tsx bench/ssh-roundtrip.ts [--hosts N] [--iterations N]
 *   npx tsx bench/ssh-roundtrip.ts --inventory FILE --known-hosts FILE [--iterations N]
 *
 * Without --inventory it starts a fleet of its own (N sshd hosts) and removes it
 * afterwards. Commands run one at a time, so each figure is a latency, not a
 * throughput. To add a section, append to SECTIONS: it gets the targets and the
 * options and measures one round trip per call of `roundTrip`.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Client } from 'ssh2';

import { Connection, WorkflowClient } from '@temporalio/client';
import { FACTS_SCRIPT } from '../src/facts';
import { startFleet, stopFleet } from '../src/fleet';
import { startDevServer } from '../src/temporal/devserver';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createRollbookWorker } from '../workers/worker';
import { loadInventory } from '../src/inventory';
import { SshPool } from '../src/ssh';
import type { SshTarget } from '../src/ssh';
import { keyTypeOfBlob, KnownHostsFile } from '../src/ssh/known-hosts';

const run = promisify(execFile);

// The worker's lifecycle and bundler lines would bury the table.
Runtime.install({ logger: new DefaultLogger('WARN') });

interface BenchOptions {
  /** Fleet size, or how many inventory hosts to use; default 1 for a fleet, all for an inventory. */
  hosts: number | undefined;
  iterations: number;
  inventory: string | undefined;
  knownHosts: string | undefined;
}

interface BenchContext {
  targets: SshTarget[];
  knownHostsFile: string;
}

interface Section {
  name: string;
  /** Prepares the section; the returned function performs one round trip to a target. */
  setup(
    ctx: BenchContext,
  ): Promise<{ roundTrip: (t: SshTarget) => Promise<void>; teardown: () => Promise<void> }>;
}

const noTeardown = (): Promise<void> => Promise.resolve();

/**
 * The same host through every Temporal layer: a `hostFacts` workflow whose one
 * activity runs the facts probe on the pooled connection. Compare it with the
 * bare probe section just before it to read off what Temporal adds.
 */
async function throughTemporal(ctx: BenchContext) {
  const server = await startDevServer();
  const taskQueue = `bench-${process.pid}`;
  const built = await createRollbookWorker({
    address: server.address,
    taskQueue,
    knownHostsFile: ctx.knownHostsFile,
  });
  const running = built.worker.run();
  const connection = await Connection.connect({ address: server.address });
  const client = new WorkflowClient({ connection });
  let n = 0;
  const roundTrip = async (t: SshTarget): Promise<void> => {
    const target = {
      host: t.host,
      address: t.address,
      port: t.port,
      user: t.user,
      ...(t.credential ? { credential: t.credential } : {}),
    };
    await client.execute('hostFacts', {
      taskQueue,
      workflowId: `bench-${process.pid}-${n++}`,
      args: [{ target, hostKeyPolicy: 'strict' }],
    });
  };
  // The first run pays for the worker's start and the SSH handshake, outside the measurement.
  await Promise.all(ctx.targets.map(roundTrip));
  const teardown = async () => {
    built.worker.shutdown();
    await running;
    await built.close();
    await connection.close();
    await server.stop();
  };
  return { roundTrip, teardown };
}

const SECTIONS: Section[] = [
  {
    name: 'pooled ssh2 connection (SshPool.run)',
    async setup(ctx) {
      const pool = new SshPool({ knownHostsFile: ctx.knownHostsFile });
      // The handshakes happen here, outside the measurement.
      await Promise.all(ctx.targets.map((t) => pool.run(t, 'true')));
      return { roundTrip: async (t) => void (await pool.run(t, 'true')), teardown: () => pool.close() };
    },
  },
  {
    name: 'facts probe on the pooled connection (SshPool.run)',
    async setup(ctx) {
      const pool = new SshPool({ knownHostsFile: ctx.knownHostsFile });
      await Promise.all(ctx.targets.map((t) => pool.run(t, 'true')));
      return { roundTrip: async (t) => void (await pool.run(t, FACTS_SCRIPT)), teardown: () => pool.close() };
    },
  },
  {
    name: 'facts probe through Temporal (hostFacts workflow, one activity)',
    setup: throughTemporal,
  },
  {
    name: 'fresh ssh2 connection per command',
    async setup(ctx) {
      const keys = await loadKeys(ctx.targets);
      const known = new KnownHostsFile(ctx.knownHostsFile);
      const verify = async (t: SshTarget, key: Buffer) =>
        (await known.verify(t.address, t.port, keyTypeOfBlob(key), key.toString('base64'))) === 'match';
      return { roundTrip: (t) => freshSsh2(t, keys.get(t.host), verify), teardown: noTeardown };
    },
  },
  {
    name: 'fresh OpenSSH ssh process per command (default kex)',
    setup: (ctx) => Promise.resolve({ roundTrip: (t) => openssh(t, ctx, []), teardown: noTeardown }),
  },
  {
    name: 'fresh OpenSSH ssh process per command (curve25519-sha256)',
    setup: (ctx) =>
      Promise.resolve({
        roundTrip: (t) => openssh(t, ctx, ['-o', 'KexAlgorithms=curve25519-sha256']),
        teardown: noTeardown,
      }),
  },
];

function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = {
    hosts: undefined,
    iterations: 50,
    inventory: undefined,
    knownHosts: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`);
    switch (argv[i]) {
      case '--hosts':
        opts.hosts = positive(argv[i], value);
        break;
      case '--iterations':
        opts.iterations = positive(argv[i], value);
        break;
      case '--inventory':
        opts.inventory = value;
        break;
      case '--known-hosts':
        opts.knownHosts = value;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}; use --hosts, --iterations, --inventory, --known-hosts`);
    }
  }
  return opts;
}

function positive(name: string | undefined, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got ${value}`);
  return n;
}

async function loadKeys(targets: SshTarget[]): Promise<Map<string, Buffer>> {
  const keys = new Map<string, Buffer>();
  for (const t of targets) {
    if (t.credential?.type !== 'key-file')
      throw new Error(`${t.host}: the benchmark needs a key-file credential`);
    keys.set(t.host, await readFile(t.credential.path));
  }
  return keys;
}

function freshSsh2(
  t: SshTarget,
  privateKey: Buffer | undefined,
  verify: (t: SshTarget, key: Buffer) => Promise<boolean>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('error', reject);
    client.once('ready', () => {
      client.exec('true', (err, channel) => {
        if (err) return reject(err);
        channel.resume().stderr.resume();
        channel.once('close', () => {
          client.end();
          resolve();
        });
      });
    });
    client.connect({
      host: t.address,
      port: t.port,
      username: t.user,
      privateKey,
      algorithms: { kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'] },
      hostVerifier: (key: Buffer, done: (ok: boolean) => void) => {
        verify(t, key).then(done, () => done(false));
      },
    });
    client.setNoDelay(true);
  });
}

async function openssh(t: SshTarget, ctx: BenchContext, extra: string[]): Promise<void> {
  const key = t.credential?.type === 'key-file' ? ['-i', t.credential.path] : [];
  const options = [
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${ctx.knownHostsFile}`,
  ];
  await run('ssh', [...key, ...options, ...extra, '-p', String(t.port), `${t.user}@${t.address}`, 'true']);
}

interface Figures {
  n: number;
  mean: number;
  p50: number;
  p95: number;
}

function figures(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  const mean = sorted.reduce((sum, x) => sum + x, 0) / sorted.length;
  return { n: sorted.length, mean, p50: at(0.5), p95: at(0.95) };
}

async function measure(section: Section, ctx: BenchContext, iterations: number): Promise<Figures> {
  const { roundTrip, teardown } = await section.setup(ctx);
  const samples: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      for (const t of ctx.targets) {
        const started = process.hrtime.bigint();
        await roundTrip(t);
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    }
  } finally {
    await teardown();
  }
  return figures(samples);
}

async function inventoryContext(opts: BenchOptions, file: string): Promise<BenchContext> {
  if (!opts.knownHosts) throw new Error('--inventory needs --known-hosts FILE');
  const inventory = await loadInventory(file);
  const targets = Object.values(inventory.hosts)
    .slice(0, opts.hosts)
    .map(({ name, address, port, user, credential }) => ({ host: name, address, port, user, credential }));
  return { targets, knownHostsFile: opts.knownHosts };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const fleetName = opts.inventory ? undefined : `bench-ssh-${process.pid}`;
  try {
    let ctx: BenchContext;
    if (opts.inventory) {
      ctx = await inventoryContext(opts, opts.inventory);
    } else {
      const fleet = await startFleet({ name: fleetName!, count: opts.hosts ?? 1 });
      const credential = { type: 'key-file', path: fleet.privateKeyFile } as const;
      ctx = {
        targets: fleet.hosts.map((h) => ({ ...h, host: h.name, credential })),
        knownHostsFile: fleet.knownHostsFile,
      };
    }
    console.log(`round trip of \`true\`, ${ctx.targets.length} host(s) x ${opts.iterations} iterations, ms`);
    console.log(
      `${'mode'.padEnd(58)} ${'n'.padStart(5)} ${'mean'.padStart(8)} ${'p50'.padStart(8)} ${'p95'.padStart(8)}`,
    );
    for (const section of SECTIONS) {
      const f = await measure(section, ctx, opts.iterations);
      const cells = [f.mean, f.p50, f.p95].map((x) => x.toFixed(1).padStart(8));
      console.log(`${section.name.padEnd(58)} ${String(f.n).padStart(5)} ${cells.join(' ')}`);
    }
  } finally {
    if (fleetName) await stopFleet(fleetName);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
