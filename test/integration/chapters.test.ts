/**
 * Chapters 1 and 2 on real hosts, run directly by the step runner (no Temporal):
 * a fleet of two systemd hosts on an internal network whose only package source
 * is the fleet's offline mirror.
 */
import { runChapterOnHost } from '../../activities/chapters';
import type { ImageSource } from '../../activities/steps/runner';
import { FACTS_SCRIPT, parseFacts, type HostFacts } from '../../src/facts';
import { startFleet, stopFleet, type FleetInfo } from '../../src/fleet';
import { ensureHelloImage, HELLO_OUTPUT, type HelloImage } from '../../src/fleet/hello-image';
import { startMirror, stopMirror, type MirrorInfo } from '../../src/fleet/mirror';
import { SshPool } from '../../src/ssh';
import type { StepReport } from '../../src/steps/model';
import type { HostTarget } from '../../src/target';

/** A rollout retries steps that fail retryably; so do these runs, and they say when. */
const RETRY = {
  attempts: 3,
  onRetry: (step: string, error: Error, attempt: number) =>
    console.warn(`retrying ${step} after attempt ${attempt}: ${error.message.slice(0, 300)}`),
};

const FLEET = `chapters-${process.pid.toString(36)}-${Date.now().toString(36)}`.slice(0, 32);
const OPERATOR = 'rollbook-op';

let fleet: FleetInfo;
let mirror: MirrorInfo;
let hello: HelloImage;
let pool: SshPool;
let hosts: Array<{ target: HostTarget; facts: HostFacts }>;
/** {@link sourcesDigest} of each fresh host. */
let freshSources: string[];

const mirrorParams = () => ({
  url: mirror.url,
  components: mirror.components,
  signingKey: mirror.armoredKey,
});
const dockerParams = { users: [OPERATOR] };

const images: ImageSource = {
  tarFor: (ref) => {
    if (ref !== hello.ref) return Promise.reject(new Error(`no tar of ${ref} in this test`));
    return Promise.resolve({ tarFile: hello.tarFile, sha256: hello.sha256 });
  },
};

async function sh(target: HostTarget, command: string): Promise<string> {
  return (await pool.run(target, command, { timeoutMs: 120_000 })).stdout;
}

/** sha256 of every file under /etc/apt and /etc/docker, sorted, plus whether rollbook's state directory exists. */
async function configDigest(target: HostTarget): Promise<string> {
  return sh(
    target,
    'find /etc/apt /etc/docker -type f -exec sha256sum {} + 2>/dev/null | sort; ' +
      'if [ -e /var/lib/rollbook ]; then echo state=present; fi; echo end',
  );
}

/** sha256 of apt's source files and keyrings: what chapter 1 changes (docker.io's recommends add apt.conf.d files). */
async function sourcesDigest(target: HostTarget): Promise<string> {
  return sh(
    target,
    'find /etc/apt/sources.list* /etc/apt/keyrings -type f -exec sha256sum {} + 2>/dev/null | sort',
  );
}

async function runBoth(checkMode: boolean): Promise<StepReport[][]> {
  return Promise.all(
    hosts.map(async ({ target, facts }) => {
      const common = { ssh: pool, target, facts, checkMode, images, ...RETRY };
      const first = await runChapterOnHost({ ...common, chapter: 'mirror', params: mirrorParams() });
      const second = await runChapterOnHost({ ...common, chapter: 'docker', params: dockerParams });
      return [...first, ...second];
    }),
  );
}

const statuses = (reports: StepReport[]) =>
  reports.map((r) => `${r.chapter}/${r.step}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);

function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  return fn().finally(() => console.log(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`));
}

beforeAll(async () => {
  await timed('fleet, mirror and hello image', async () => {
    hello = await ensureHelloImage();
    fleet = await startFleet({ name: FLEET, count: 2, kind: 'systemd', internal: true });
    mirror = await startMirror({ network: fleet.network, name: FLEET });
  });
  pool = new SshPool({ knownHostsFile: fleet.knownHostsFile, hostKeyPolicy: 'strict' });
  hosts = await Promise.all(
    fleet.hosts.map(async (h) => {
      const target: HostTarget = {
        host: h.name,
        address: h.address,
        port: h.port,
        user: h.user,
        credential: { type: 'key-file', path: fleet.privateKeyFile },
      };
      await sh(target, `id ${OPERATOR} >/dev/null 2>&1 || useradd --create-home ${OPERATOR}`);
      return { target, facts: parseFacts(await sh(target, FACTS_SCRIPT)) };
    }),
  );
  freshSources = await Promise.all(hosts.map((h) => sourcesDigest(h.target)));
}, 900_000);

afterAll(async () => {
  await pool?.close();
  if (mirror) await stopMirror(FLEET);
  if (fleet) await stopFleet(FLEET);
}, 300_000);

describe('chapters 1 and 2 on two systemd hosts behind the offline mirror', () => {
  it('in check mode on fresh hosts reports diffs and leaves /etc/apt and /etc/docker byte-identical', async () => {
    const before = await Promise.all(hosts.map((h) => configDigest(h.target)));
    const reports = await timed('check mode, both chapters, 2 hosts', () => runBoth(true));
    const after = await Promise.all(hosts.map((h) => configDigest(h.target)));

    expect(after).toEqual(before);
    for (const perHost of reports) {
      expect(perHost.every((r) => r.checkMode && r.status !== 'failed')).toBe(true);
      const byStep = new Map(perHost.map((r) => [`${r.chapter}/${r.step}`, r]));
      expect(byStep.get('mirror/signing-key')?.status).toBe('changed');
      const sources = byStep.get('mirror/sources');
      expect(sources?.changes.map((c) => `${c.action} ${c.target}`)).toEqual(
        expect.arrayContaining([
          'create /etc/apt/sources.list.d/rollbook-mirror.sources',
          'move to /etc/apt/sources.list.bak (backup) /etc/apt/sources.list',
        ]),
      );
      const created = sources?.changes.find((c) => c.target.endsWith('rollbook-mirror.sources'));
      expect(created?.diff).toContain(`+URIs: ${mirror.url}`);
      expect(created?.diff).toContain('+Suites: bookworm');
      expect(byStep.get('docker/packages')?.changes[0]).toMatchObject({
        kind: 'package',
        target: 'docker.io',
      });
      const groupActions = byStep.get('docker/group')?.changes.map((c) => c.action) ?? [];
      expect(groupActions).toEqual(['create (system group)', expect.stringContaining('root-equivalent')]);
    }
  }, 300_000);

  it('switches both hosts to the mirror, installs Docker and runs rollbook/hello:1 on each', async () => {
    const reports = await timed('apply, both chapters, 2 hosts', () => runBoth(false));
    for (const perHost of reports) {
      expect(statuses(perHost).filter((s) => s.includes(': failed'))).toEqual([]);
      expect(perHost.find((r) => r.step === 'packages')?.status).toBe('changed');
      expect(perHost.find((r) => r.step === 'upgrade')?.status).toBe('skipped');
    }
    for (const { target } of hosts) {
      expect(await sh(target, 'docker run --rm rollbook/hello:1')).toContain(HELLO_OUTPUT);
      expect(await sh(target, `id -nG ${OPERATOR}`)).toMatch(/\bdocker\b/);
      expect(await sh(target, 'ls /etc/apt/sources.list.d/; ls /etc/apt/')).toMatch(/sources\.list\.bak/);
    }
  }, 900_000);

  it('reports only ok (and the unrequested upgrade as skipped) on a second run', async () => {
    const reports = await timed('second run, both chapters, 2 hosts', () => runBoth(false));
    for (const perHost of reports) {
      const notOk = perHost.filter(
        (r) => r.status !== 'ok' && !(r.step === 'upgrade' && r.status === 'skipped'),
      );
      expect(statuses(notOk)).toEqual([]);
      expect(perHost.flatMap((r) => r.changes)).toEqual([]);
    }
  }, 300_000);

  it('upgrades from the mirror when asked, and then reports every mirror step ok', async () => {
    const { target, facts } = hosts[0]!;
    const params = { ...mirrorParams(), upgrade: true };
    const run = () => runChapterOnHost({ ssh: pool, target, facts, chapter: 'mirror', params, ...RETRY });
    const first = await timed('mirror with upgrade, 1 host', run);
    expect(statuses(first.filter((r) => r.status === 'failed'))).toEqual([]);
    expect(['ok', 'changed']).toContain(first.find((r) => r.step === 'upgrade')?.status);
    expect((await run()).map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  }, 600_000);

  it('uninstalls Docker keeping its data, then purges the data, each run converging', async () => {
    const { target, facts } = hosts[1]!;
    const run = (params: object) =>
      runChapterOnHost({ ssh: pool, target, facts, chapter: 'docker', params, images, ...RETRY });
    const changedSteps = (reports: StepReport[]) =>
      reports.filter((r) => r.status !== 'ok' && r.status !== 'skipped');

    const removed = await timed('uninstall keeping data, 1 host', () => run({ state: 'absent' }));
    expect(statuses(changedSteps(removed))).toEqual(['docker/packages: changed']);
    expect(await sh(target, 'command -v dockerd || echo no dockerd')).toContain('no dockerd');
    expect(Number(await sh(target, 'ls -A /var/lib/docker | wc -l'))).toBeGreaterThan(0);
    expect(changedSteps(await run({ state: 'absent' }))).toEqual([]);

    const purged = await timed('uninstall purging data, 1 host', () =>
      run({ state: 'absent', purgeData: true }),
    );
    expect(statuses(changedSteps(purged))).toEqual(['docker/packages: changed']);
    expect(Number(await sh(target, 'ls -A /var/lib/docker 2>/dev/null | wc -l'))).toBe(0);
    expect(
      await sh(target, "dpkg-query -W -f '${db:Status-Abbrev}' docker.io 2>/dev/null || true"),
    ).not.toMatch(/^(ii|rc)/);
    expect(changedSteps(await run({ state: 'absent', purgeData: true }))).toEqual([]);
  }, 300_000);

  it('reverts the mirror: the source files are byte-identical to the fresh host again, and stay so', async () => {
    const { target, facts } = hosts[1]!;
    const run = () =>
      runChapterOnHost({
        ssh: pool,
        target,
        facts,
        chapter: 'mirror',
        params: { revert: true },
        ...RETRY,
      });
    const reverted = await timed('mirror revert, 1 host', run);
    expect(statuses(reverted)).toEqual([
      'mirror/signing-key: skipped (reverting: the sources step removes the key after the sources that use it)',
      'mirror/sources: changed',
      'mirror/refresh: skipped (reverting: the restored sources may be unreachable from this host; refresh once they are)',
      'mirror/upgrade: skipped (reverting: nothing is upgraded)',
    ]);
    expect(freshSources[1]).toContain('/etc/apt/sources.list');
    expect(await sourcesDigest(target)).toBe(freshSources[1]);
    expect(await sh(target, 'ls -A /var/lib/rollbook')).not.toMatch(/mirror\./);
    expect((await run()).map((r) => r.status)).toEqual(['skipped', 'ok', 'skipped', 'skipped']);
  }, 120_000);
});
