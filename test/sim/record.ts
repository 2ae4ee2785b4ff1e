/**
 * Refreshes the simulator's recording from a real host:
 *
 *   npx tsx test/sim/record.ts [--out FILE]
 *
 * It starts one systemd fleet host on an internal network behind the offline
 * mirror (as test/integration/chapters.test.ts does), converges it with chapters
 * 1 and 2, then runs the converged pass (facts, then both chapters) twice more
 * through a recording pool. Every command and file read of those passes is
 * kept, normalized, in test/sim/fixtures/converged-bookworm.json. The two passes
 * must agree byte for byte: an output that changes from run to run (a
 * timestamp, a process id) would make the replay lie, so it stops the recording.
 * Needs Docker, the fleet images, the mirror and the hello image (scripts/setup).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';

import { runChapterOnHost } from '../../activities/chapters';
import type { ImageSource } from '../../activities/steps/runner';
import { FACTS_SCRIPT, parseFacts, type HostFacts } from '../../src/facts';
import { FLEET_IMAGES, startFleet, stopFleet } from '../../src/fleet';
import { ensureHelloImage } from '../../src/fleet/hello-image';
import { startMirror, stopMirror } from '../../src/fleet/mirror';
import {
  SshPool,
  type ExecOptions,
  type ExecResult,
  type SshTarget,
  type WriteFileOptions,
} from '../../src/ssh';
import type { StepReport } from '../../src/steps/model';
import type { HostTarget } from '../../src/target';
import {
  CONVERGED_BOOKWORM,
  RECORDING_FORMAT,
  normalizeText,
  recordingSchema,
  replayKey,
  sha256Hex,
  type HostIdentity,
  type RecordedCommand,
  type RecordedFile,
  type Recording,
} from './recording';

/** Files read over SFTP besides the pass's own reads (it makes none), so the replay serves real content. */
const SAMPLE_FILES = [
  '/etc/os-release',
  '/etc/apt/sources.list.d/rollbook-mirror.sources',
  '/etc/apt/keyrings/rollbook-mirror.asc',
  '/var/lib/rollbook/mirror.state',
  '/etc/apt/sources.list',
];

/** A host prefix that cannot occur by accident in command output, so normalizing it is safe. */
const HOST_PREFIX = 'recorded-host-';

interface ExecCall {
  key: string;
  command: string;
  stdinSha256?: string;
  stdout: string;
  stderr: string;
  exitCode: number | null;
  durationMs: number;
}

interface FileCall {
  path: string;
  content: Buffer | null;
}

/** An SshPool that keeps every exec and file read, and notes writes and Docker API use, which a converged pass must not need. */
class RecordingPool extends SshPool {
  readonly execs: ExecCall[] = [];
  readonly reads: FileCall[] = [];
  readonly writes: string[] = [];
  dockerClients = 0;

  override async exec(target: SshTarget, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await super.exec(target, command, opts);
    const stdin = opts.stdin === undefined ? undefined : sha256Hex(Buffer.from(opts.stdin));
    this.execs.push({
      key: replayKey(command, stdin),
      command,
      ...(stdin === undefined ? {} : { stdinSha256: stdin }),
      stdout: result.stdout,
      stderr: result.stderr,
      exitCode: result.exitCode,
      durationMs: result.durationMs,
    });
    return result;
  }

  override async readFile(target: SshTarget, file: string): Promise<Buffer | null> {
    const content = await super.readFile(target, file);
    this.reads.push({ path: file, content });
    return content;
  }

  override async writeFile(
    target: SshTarget,
    file: string,
    content: string | Buffer,
    opts?: WriteFileOptions,
  ): Promise<void> {
    this.writes.push(file);
    return super.writeFile(target, file, content, opts);
  }

  override docker(target: SshTarget): ReturnType<SshPool['docker']> {
    this.dockerClients++;
    return super.docker(target);
  }
}

interface Pass {
  pool: RecordingPool;
  facts: HostFacts;
  reports: StepReport[];
}

function parseArgs(argv: string[]): { out: string } {
  const index = argv.indexOf('--out');
  if (index >= 0 && argv[index + 1]) return { out: path.resolve(argv[index + 1] as string) };
  if (argv.length > 0)
    throw new Error(`usage: npx tsx test/sim/record.ts [--out FILE] (got ${argv.join(' ')})`);
  return { out: CONVERGED_BOOKWORM };
}

async function runPass(
  pool: SshPool,
  target: HostTarget,
  chapters: Recording['chapters'],
  images: ImageSource,
): Promise<{ facts: HostFacts; reports: StepReport[] }> {
  const facts = parseFacts((await pool.run(target, FACTS_SCRIPT, { timeoutMs: 60_000 })).stdout);
  const reports: StepReport[] = [];
  for (const chapter of chapters) {
    const common = { ssh: pool, target, facts, images, attempts: 3, retryDelayMs: 2_000 };
    reports.push(...(await runChapterOnHost({ ...common, chapter: chapter.name, params: chapter.params })));
  }
  return { facts, reports };
}

function notConverged(pass: Pass): string[] {
  const problems = pass.reports
    .filter((r) => r.status !== 'ok' && r.status !== 'skipped')
    .map((r) => `${r.chapter}/${r.step} was ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
  if (pass.pool.writes.length > 0) problems.push(`files were written: ${pass.pool.writes.join(', ')}`);
  if (pass.pool.dockerClients > 0)
    problems.push('the Docker API was used, which the simulator does not replay');
  return problems;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return Math.round(value * 10) / 10;
}

/** One entry per distinct command; fails when a command answered differently in the two passes or within one. */
function mergeCommands(passes: Pass[], id: HostIdentity): RecordedCommand[] {
  const byKey = new Map<string, { first: ExecCall; durations: number[]; perPass: number[] }>();
  const differing = new Set<string>();
  passes.forEach((pass, passIndex) => {
    for (const call of pass.pool.execs) {
      const key = normalizeText(call.key, id);
      const entry = byKey.get(key) ?? { first: call, durations: [], perPass: passes.map(() => 0) };
      byKey.set(key, entry);
      const same = (['stdout', 'stderr', 'exitCode'] as const).every((f) => entry.first[f] === call[f]);
      if (!same) differing.add(call.command.split('\n')[0] ?? '');
      entry.durations.push(call.durationMs);
      entry.perPass[passIndex] = (entry.perPass[passIndex] ?? 0) + 1;
    }
  });
  if (differing.size > 0) {
    throw new Error(
      `commands answered differently between runs, normalize them first: ${[...differing].join(' | ')}`,
    );
  }
  return [...byKey.values()].map(({ first, durations, perPass }) => {
    if (new Set(perPass).size !== 1)
      throw new Error(`the passes ran ${first.command} a different number of times`);
    return {
      command: normalizeText(first.command, id),
      ...(first.stdinSha256 === undefined ? {} : { stdinSha256: first.stdinSha256 }),
      stdout: normalizeText(first.stdout, id),
      stderr: normalizeText(first.stderr, id),
      exitCode: first.exitCode,
      durationMs: median(durations),
      timesPerPass: perPass[0] ?? 0,
    };
  });
}

async function recordFiles(
  pool: RecordingPool,
  target: HostTarget,
  id: HostIdentity,
): Promise<RecordedFile[]> {
  const passReads = pool.reads.length;
  for (const file of SAMPLE_FILES) await pool.readFile(target, file);
  const files = new Map<string, RecordedFile>();
  pool.reads.forEach((read, index) => {
    const existing = files.get(read.path);
    if (existing) {
      if (index < passReads) existing.timesPerPass++;
      return;
    }
    const content = read.content === null ? null : normalizeText(read.content.toString('utf8'), id);
    files.set(read.path, {
      path: read.path,
      contentBase64: content === null ? null : Buffer.from(content, 'utf8').toString('base64'),
      mode: 0o100644,
      uid: 0,
      gid: 0,
      timesPerPass: index < passReads ? 1 : 0,
    });
  });
  return [...files.values()];
}

async function main(): Promise<void> {
  const { out } = parseArgs(process.argv.slice(2));
  const name = `simrec-${process.pid.toString(36)}-${Date.now().toString(36)}`.slice(0, 32);
  const started = Date.now();
  const hello = await ensureHelloImage();
  const fleet = await startFleet({
    name,
    count: 1,
    kind: 'systemd',
    internal: true,
    hostPrefix: HOST_PREFIX,
  });
  const pools: SshPool[] = [];
  try {
    const mirror = await startMirror({ network: fleet.network, name });
    const host = fleet.hosts[0]!;
    const target: HostTarget = {
      host: host.name,
      address: host.address,
      port: host.port,
      user: host.user,
      credential: { type: 'key-file', path: fleet.privateKeyFile },
    };
    const id: HostIdentity = { host: host.name, address: host.address };
    const images: ImageSource = {
      tarFor: (ref) =>
        ref === hello.ref
          ? Promise.resolve({ tarFile: hello.tarFile, sha256: hello.sha256 })
          : Promise.reject(new Error(`no tar of ${ref}`)),
    };
    const chapters: Recording['chapters'] = [
      {
        name: 'mirror',
        params: { url: mirror.url, components: mirror.components, signingKey: mirror.armoredKey },
      },
      { name: 'docker', params: { users: [] } },
    ];
    const newPool = <P extends SshPool>(make: () => P): P => {
      const pool = make();
      pools.push(pool);
      return pool;
    };
    const options = { knownHostsFile: fleet.knownHostsFile, hostKeyPolicy: 'strict' as const };

    console.log(`converging ${host.name} (${host.address}) with chapters 1 and 2`);
    const converge = await runPass(
      newPool(() => new SshPool(options)),
      target,
      chapters,
      images,
    );
    const failed = converge.reports.filter((r) => r.status === 'failed');
    if (failed.length > 0)
      throw new Error(`converging failed: ${failed.map((r) => `${r.step}: ${r.reason}`).join('; ')}`);

    const passes: Pass[] = [];
    for (let i = 1; i <= 2; i++) {
      const pool = newPool(() => new RecordingPool(options));
      const pass: Pass = { pool, ...(await runPass(pool, target, chapters, images)) };
      const problems = notConverged(pass);
      if (problems.length > 0) throw new Error(`recorded pass ${i} is not converged: ${problems.join('; ')}`);
      console.log(`recorded pass ${i}: ${pool.execs.length} commands, ${pool.reads.length} file reads`);
      passes.push(pass);
    }
    const [first] = passes as [Pass, ...Pass[]];

    const recording: Recording = {
      format: RECORDING_FORMAT,
      description:
        'A converged Debian bookworm systemd host after chapters 1 (mirror) and 2 (docker): the commands and ' +
        'file reads of one converged pass (facts, then both chapters), as test/sim/record.ts recorded them.',
      recordedAt: new Date().toISOString(),
      source: {
        image: FLEET_IMAGES.systemd,
        osName: first.facts.osName,
        kernel: first.facts.kernel,
        dockerServerVersion: first.facts.docker.serverVersion ?? '',
      },
      chapters,
      steps: first.reports.map((r) => ({ chapter: r.chapter, step: r.step, status: r.status })),
      commands: mergeCommands(passes, id),
      files: await recordFiles(first.pool, target, id),
      docker: [],
    };
    recordingSchema.parse(recording);
    const text = await prettier.format(JSON.stringify(recording), {
      ...(await prettier.resolveConfig(out)),
      parser: 'json',
    });
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, text);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    console.log(
      `wrote ${out}: ${recording.commands.length} distinct commands, ${recording.files.length} files (${seconds} s)`,
    );
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    await stopMirror(name).catch((err: unknown) => console.warn(`stopping the mirror: ${String(err)}`));
    await stopFleet(name);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
