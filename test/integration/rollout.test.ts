/**
 * The rollout workflow end to end: six systemd hosts with no route outside, the
 * offline mirror as their only package source, chapters 1 (mirror) and 2 (docker).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { addHost, clearAuditLog, readAuditEntries, startHost, stopHost } from '../../src/fleet';
import { HELLO_OUTPUT } from '../../src/fleet/hello-image';
import { approveWaveUpdate, changePolicyUpdate, pauseSignal, resumeSignal } from '../../src/rollout/messages';
import { startRolloutFixture, type RolloutFixture } from './rollout-fixture';

const run = promisify(execFile);

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const FAST_RETRY = { maximumAttempts: 2, initialInterval: '500ms', maximumInterval: '1s' };

let fx: RolloutFixture;

/** Why an update was rejected: the validator's message travels as the failure's cause. */
async function rejection(update: Promise<unknown>): Promise<string> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause?.message ?? '';
}

beforeAll(async () => {
  fx = await startRolloutFixture('rollout', HOSTS.length);
});

afterAll(async () => {
  await fx?.close();
});

/** sha256 of every file under /etc/apt and /etc/docker, and whether rollbook's state directory exists. */
async function configDigest(host: string): Promise<string> {
  const command =
    'find /etc/apt /etc/docker -type f -exec sha256sum {} + 2>/dev/null | sort; test -e /var/lib/rollbook && echo state';
  return (await fx.pool.exec(await fx.target(host), command)).stdout;
}

describe('rollout of chapters 1 and 2', () => {
  it('installs Docker from the mirror on six hosts with no route outside, each running a container', async () => {
    const handle = await fx.start({ policy: { waves: '100%', maxInFlight: 6 } });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'succeeded', counts: { succeeded: 6, failed: 0 } });

    // No route outside is Docker's --internal guarantee; the test sends nothing past the fleet's network to show it.
    const { stdout: internal } = await run('docker', [
      'network',
      'inspect',
      '-f',
      '{{.Internal}}',
      fx.fleet.network,
    ]);
    expect(internal.trim()).toBe('true');
    for (const host of HOSTS) {
      const target = await fx.target(host);
      const run = await fx.pool.run(target, 'docker run --rm rollbook/hello:1');
      expect(run.stdout.trim()).toBe(HELLO_OUTPUT);
    }
    const reports = await fx.reports(result);
    expect(Object.values(reports).every((r) => r.some((s) => s.status === 'changed'))).toBe(true);
  });

  it('reports nothing but ok on a second rollout over the same hosts', async () => {
    const result = await (await fx.start({ policy: { maxInFlight: 6 } })).result();
    expect(result.status).toBe('succeeded');
    const reports = await fx.reports(result);
    for (const host of HOSTS) {
      expect(reports[host]?.length).toBeGreaterThan(0);
      // `upgrade` is skipped because the rollout did not ask for it; nothing else is touched.
      expect(reports[host]?.filter((r) => r.status !== 'ok').map((r) => `${r.step}:${r.status}`)).toEqual([
        'upgrade:skipped',
      ]);
    }
  });
});

describe('check mode', () => {
  it('returns the diffs for a fresh host and leaves /etc/apt and /etc/docker byte-identical', async () => {
    await addHost(fx.fleet, 'fresh1', 'systemd');
    const before = await configDigest('fresh1');
    const result = await (await fx.start({ limit: 'fresh1', checkMode: true })).result();
    expect(result).toMatchObject({ status: 'succeeded', checkMode: true });
    const reports = (await fx.reports(result)).fresh1 ?? [];
    const sources = reports.find((r) => r.step === 'sources');
    expect(sources?.status).toBe('changed');
    expect(sources?.changes.some((c) => c.diff?.includes('+URIs: http://mirror/debian'))).toBe(true);
    expect(reports.find((r) => r.step === 'packages')?.changes.map((c) => c.target)).toContain('docker.io');
    expect(await configDigest('fresh1')).toBe(before);
    expect(before).not.toContain('state');
  });
});

describe('rollout policy', () => {
  it('stops when failures exceed the threshold and reports the rest as not started', async () => {
    await stopHost(fx.fleet, 'h2');
    await stopHost(fx.fleet, 'h3');
    try {
      const handle = await fx.start({
        limit: HOSTS.join(':'),
        policy: { waves: 1, maxInFlight: 1, failureThreshold: 1 },
        retry: FAST_RETRY,
      });
      const result = await handle.result();
      expect(result.status).toBe('stopped');
      expect(result.stopReason).toMatch(/failure threshold exceeded: 2 hosts failed, 1 tolerated/);
      expect(result.hosts.h1?.state).toBe('succeeded');
      expect(result.hosts.h2?.state).toBe('failed');
      expect(result.hosts.h2?.reason).toMatch(/h2/);
      expect(result.hosts.h3?.state).toBe('failed');
      for (const host of ['h4', 'h5', 'h6']) expect(result.hosts[host]?.state).toBe('not-started');
      expect(result.counts).toMatchObject({ succeeded: 1, failed: 2, 'not-started': 3 });
    } finally {
      await startHost(fx.fleet, 'h2');
      await startHost(fx.fleet, 'h3');
    }
  });

  it('waits for approval after wave 1, rejects invalid approvals, and starts wave 2 on a valid one', async () => {
    const handle = await fx.start({
      limit: 'h1:h2:h3',
      policy: { waves: [1, '100%'], approval: { approvers: ['alice'], timeout: '10m' } },
    });
    const waiting = await fx.waitFor(handle, (p) => p.phase === 'awaiting-approval');
    expect(waiting.wave).toBe(2);
    expect(waiting.hosts.h1?.state).toBe('succeeded');
    expect(waiting.hosts.h2?.state).toBe('pending');

    const approve = (approval: object) =>
      handle.executeUpdate(approveWaveUpdate, { args: [approval as never] });
    expect(await rejection(approve({ approver: 'alice', wave: 3 }))).toBe('wave 2 is waiting, not wave 3');
    expect(await rejection(approve({ approver: 'mallory', wave: 2 }))).toMatch(/mallory may not approve/);
    expect(await rejection(approve({ approver: 'alice; rm -rf /', wave: 2 }))).toMatch(/^approver: /);
    expect((await fx.waitFor(handle, () => true)).hosts.h2?.state).toBe('pending');

    const accepted = await approve({ approver: 'alice', wave: 2, comment: 'canary looks fine' });
    expect(accepted.approvals).toEqual([
      { approver: 'alice', wave: 2, comment: 'canary looks fine', via: 'update' },
    ]);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'succeeded', counts: { succeeded: 3 } });
  });

  it('pauses and resumes between hosts, and takes a policy change while running', async () => {
    const handle = await fx.start({ limit: HOSTS.join(':'), policy: { waves: '100%', maxInFlight: 1 } });
    await handle.signal(pauseSignal);
    const paused = await fx.waitFor(handle, (p) => p.phase === 'paused');
    const started = Object.values(paused.hosts).filter((h) => h.state !== 'pending').length;
    await new Promise((r) => setTimeout(r, 3_000));
    const still = await fx.waitFor(handle, () => true);
    expect(Object.values(still.hosts).filter((h) => h.state !== 'pending').length).toBe(started);

    const badChange = handle.executeUpdate(changePolicyUpdate, { args: [{ maxInFlight: 0 }] });
    expect(await rejection(badChange)).toMatch(/^maxInFlight: /);
    const changed = await handle.executeUpdate(changePolicyUpdate, { args: [{ maxInFlight: 6 }] });
    expect(changed.phase).toBe('paused');
    await handle.signal(resumeSignal);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'succeeded', counts: { succeeded: 6 } });
  });
});

describe('malformed input', () => {
  it('fails at once with one line per problem, and no host sees a single command', async () => {
    for (const host of HOSTS) await clearAuditLog(fx.fleet, host);
    const handle = await fx.start({
      limit: 'web;rm',
      chapters: [
        { name: 'docker', params: { package: 'docker.io; rm -rf /' } },
        { name: 'consul', params: {} },
      ],
      policy: { waves: -1 },
    });
    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const message = (failure as WorkflowFailedError).cause?.message ?? '';
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'InputError', nonRetryable: true });
    expect(message).toMatch(/limit: .*";"/);
    expect(message).toMatch(/policy\.waves/);
    expect(message).toMatch(/chapters\[0\]\.params\.package/);
    expect(message).toMatch(/chapters\[1\]\.name: unknown chapter "consul"/);
    for (const host of HOSTS) expect(await readAuditEntries(fx.fleet, host)).toEqual([]);
  });
});
