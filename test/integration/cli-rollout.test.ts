/**
 * The `rollbook` CLI as Jenkins runs it: plan, run --wait with live progress and
 * JUnit XML, the exit codes, and steering a running rollout (status, approve,
 * pause, resume, cancel).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { startHost, stopHost } from '../../src/fleet';
import { progressQuery } from '../../src/rollout/messages';
import { temporalAddress, uniqueName } from './harness';
import { startRolloutFixture, type RolloutFixture } from './rollout-fixture';

const run = promisify(execFile);
const ROLLBOOK = path.resolve(__dirname, '..', '..', 'bin', 'rollbook');

let fx: RolloutFixture;
let dir: string;
let keyFile: string;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function rollbook(args: string[]): Promise<CliResult> {
  const env = { ...process.env, TEMPORAL_ADDRESS: temporalAddress(), ROLLBOOK_TASK_QUEUE: fx.taskQueue };
  try {
    const { stdout, stderr } = await run(ROLLBOOK, args, { env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as CliResult;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function rolloutArgs(limit: string): string[] {
  return [
    ...['--inventory', fx.fleet.inventoryFile, '--limit', limit, '--chapters', 'mirror,docker'],
    ...['--set', `mirror.url=${fx.mirror.url}`, '--set', `mirror.signingKey=@${keyFile}`],
  ];
}

beforeAll(async () => {
  fx = await startRolloutFixture('cli', 3);
  dir = mkdtempSync(path.join(os.tmpdir(), 'rollbook-cli-'));
  keyFile = path.join(dir, 'mirror.asc');
  writeFileSync(keyFile, fx.mirror.armoredKey);
});

afterAll(async () => {
  await fx?.close();
});

it('plans with diffs and exit 0, changing nothing', async () => {
  const junit = path.join(dir, 'plan.xml');
  const result = await rollbook(['plan', ...rolloutArgs('h1'), '--junit', junit]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/== h1: succeeded, \d+ steps would change/);
  expect(result.stdout).toContain('+URIs: http://mirror/debian');
  expect(result.stdout).toMatch(/package docker\.io: install/);
  expect(readFileSync(junit, 'utf8')).toMatch(/<testcase classname="h1" name="mirror\/sources"/);
  const digest = await fx.pool.run(
    await fx.target('h1'),
    'test -e /etc/apt/sources.list.d/rollbook-mirror.sources || echo absent',
  );
  expect(digest.stdout.trim()).toBe('absent');
});

it('runs a rollout with --wait, one line per host event, JUnit XML, and exit 0', async () => {
  const junit = path.join(dir, 'run.xml');
  const result = await rollbook(['run', 'rollout', ...rolloutArgs('h1:h2'), '--wait', '--junit', junit]);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^h1: mirror\/sources$/m);
  expect(result.stdout).toMatch(/^h2: docker\/packages$/m);
  expect(result.stdout).toMatch(/^h1: succeeded$/m);
  expect(result.stdout).toMatch(/rollout \S+: succeeded: 2 succeeded, 0 failed/);
  const xml = readFileSync(junit, 'utf8');
  expect(xml).toMatch(/<testsuite name="rollbook rollout-[^"]+" tests="\d+" failures="0"/);
  expect(xml).toContain('name="docker/verify"');
});

it('exits 1 when a host fails, with the failure in the JUnit XML', async () => {
  const junit = path.join(dir, 'failed.xml');
  const input = path.join(dir, 'input.json');
  writeFileSync(
    input,
    JSON.stringify({
      inventory: await fx.inventory(),
      limit: 'h3',
      chapters: fx.chapters(),
      retry: { maximumAttempts: 1 },
    }),
  );
  await stopHost(fx.fleet, 'h3');
  try {
    const result = await rollbook(['run', 'rollout', '--input', input, '--wait', '--junit', junit]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^h3: failed \(facts: .*h3.*\)$/m);
    expect(readFileSync(junit, 'utf8')).toMatch(/<failure message="facts: [^"]*" type="HostFailed"/);
  } finally {
    await startHost(fx.fleet, 'h3');
  }
});

it('exits 2 with one line per problem on invalid input, starting nothing', async () => {
  const result = await rollbook([
    ...[
      'run',
      'rollout',
      '--inventory',
      fx.fleet.inventoryFile,
      '--limit',
      'h1',
      '--chapters',
      'mirror,consul',
    ],
    ...['--waves', '-1', '--set', 'mirror.url=http://mirror/debian;reboot'],
  ]);
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^ {2}- policy\.waves: /m);
  expect(result.stderr).toMatch(/^ {2}- chapters\[0\]\.params\.url: /m);
  expect(result.stderr).toMatch(/^ {2}- chapters\[1\]\.name: unknown chapter "consul"/m);
});

it('steers a running rollout: status, a refused and a valid approval, pause, resume, cancel', async () => {
  const id = uniqueName('cli-steer');
  const started = await rollbook([
    'run',
    'rollout',
    ...rolloutArgs('h1:h2:h3'),
    '--waves',
    '1',
    '--approval',
    '--id',
    id,
  ]);
  expect(started).toMatchObject({ code: 0, stdout: `started ${id}\n` });
  const handle = fx.client.workflow.getHandle(id);
  await fx.waitFor(handle, (p) => p.phase === 'awaiting-approval');

  const status = await rollbook(['status', id]);
  expect(status.stdout).toMatch(new RegExp(`^${id}: awaiting-approval, wave 2 of 3$`, 'm'));
  expect(status.stdout).toMatch(/^ {2}h1: succeeded$/m);

  const refused = await rollbook(['approve', id, '--wave', '3', '--approver', 'bob']);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/approval refused: wave 2 is waiting, not wave 3/);

  expect((await rollbook(['pause', id])).code).toBe(0);
  expect((await rollbook(['approve', id, '--wave', '2', '--approver', 'bob'])).code).toBe(0);
  const paused = await fx.waitFor(handle, (p) => p.phase === 'paused');
  expect(paused.hosts.h2?.state).toBe('pending');

  expect((await rollbook(['resume', id])).code).toBe(0);
  await fx.waitFor(handle, (p) => p.phase === 'awaiting-approval' && p.wave === 3);
  expect((await rollbook(['cancel', id])).code).toBe(0);
  const failure: unknown = await handle.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  const final = await handle.query(progressQuery);
  expect(final.phase).toBe('cancelled');
  expect(final.hosts.h3).toMatchObject({ state: 'not-started', reason: 'rollout cancelled' });
});
