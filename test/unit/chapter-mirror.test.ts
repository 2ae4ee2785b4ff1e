import { chapterParamsSchemas, type MirrorParams } from '../../src/chapters/catalog';
import {
  enabledSources,
  isAptSourcePath,
  parseDeb822Sources,
  parseOneLineSources,
  renderDeb822,
} from '../../activities/chapters/apt-sources';
import {
  APT_LAYOUT,
  BACKUPS_MANIFEST,
  INDEX_STATE,
  YUM_LAYOUT,
  indexIsFresh,
  layoutFor,
  parseAptSimulation,
  planRevert,
  planSwitch,
  refreshArgv,
  refreshStep,
  refreshTool,
  signingKeyStep,
  sourcesHash,
  sourcesStep,
  upgradeArgv,
  upgradeStep,
  type MirrorState,
} from '../../activities/chapters/mirror';
import { parseCheckUpdate, parseRepoFile, renderRepoFile } from '../../activities/chapters/yum-repos';
import { DUMP_FILES_FUNCTION, parseFileDump, type FileOp } from '../../activities/steps/host';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MIRROR_KEY, centosFacts, debianFacts, fixture, planContext } from '../fixtures/chapters/helpers';

const APT_PARAMS = chapterParamsSchemas.mirror.parse({ url: 'http://mirror/debian', signingKey: MIRROR_KEY });
const YUM_PARAMS = chapterParamsSchemas.mirror.parse({
  yum: { baseurl: 'http://mirror/centos/7' },
  signingKey: MIRROR_KEY,
});

function aptState(
  files: Record<string, string>,
  values: Record<string, string> = { lists: '1' },
): MirrorState {
  return {
    layout: APT_LAYOUT,
    files: new Map(Object.entries(files)),
    values: new Map(Object.entries(values)),
  };
}

function yumState(
  files: Record<string, string>,
  values: Record<string, string> = { lists: '1', tool: 'yum' },
): MirrorState {
  return {
    layout: YUM_LAYOUT,
    files: new Map(Object.entries(files)),
    values: new Map(Object.entries(values)),
  };
}

/** What the host's files would be after the operations, for convergence checks without a host. */
function applyOps(state: MirrorState, ops: readonly FileOp[]): MirrorState {
  const files = new Map(state.files);
  for (const op of ops) {
    if (op.op === 'write') files.set(op.path, op.content);
    else if (op.op === 'remove') files.delete(op.path);
    else {
      files.set(op.to, files.get(op.from) ?? '');
      files.delete(op.from);
    }
  }
  return { ...state, files };
}

const summary = (ops: readonly FileOp[]) =>
  ops.map((op) => (op.op === 'move' ? `move ${op.from} -> ${op.to}` : `${op.op} ${op.path}`));

describe('apt source formats', () => {
  it('reads one-line entries with options and trailing comments, ignoring commented lines', () => {
    const entries = parseOneLineSources(fixture('apt/sources.list'));
    expect(entries.map((e) => `${e.types[0]} ${e.uris[0]} ${e.suites[0]} ${e.components.join(',')}`)).toEqual(
      [
        'deb http://deb.debian.org/debian bookworm main,contrib',
        'deb http://deb.debian.org/debian bookworm-updates main',
        'deb http://security.debian.org/debian-security bookworm-security main',
      ],
    );
    expect(parseOneLineSources(fixture('apt/commented.list'))).toEqual([]);
  });

  it('reads deb822 stanzas, multi-line fields and Enabled: no', () => {
    const stanzas = parseDeb822Sources(fixture('apt/debian.sources'));
    expect(stanzas.map((s) => s.suites)).toEqual([['bookworm', 'bookworm-updates'], ['bookworm-security']]);
    const disabled = parseDeb822Sources(fixture('apt/disabled.sources'));
    expect(disabled).toHaveLength(1);
    expect(disabled[0]).toMatchObject({
      types: ['deb', 'deb-src'],
      components: ['main', 'universe'],
      enabled: false,
    });
    expect(
      enabledSources('/etc/apt/sources.list.d/disabled.sources', fixture('apt/disabled.sources')),
    ).toEqual([]);
  });

  it('knows which paths apt reads as source files', () => {
    expect(isAptSourcePath('/etc/apt/sources.list')).toBe(true);
    expect(isAptSourcePath('/etc/apt/sources.list.d/docker.list')).toBe(true);
    expect(isAptSourcePath('/etc/apt/sources.list.d/debian.sources')).toBe(true);
    expect(isAptSourcePath('/etc/apt/sources.list.d/debian.sources.bak')).toBe(false);
    expect(isAptSourcePath('/etc/apt/sources.list.bak')).toBe(false);
  });

  it('renders the mirror as a deb822 stanza Signed-By the rollbook key, which parses back', () => {
    const text = renderDeb822(
      {
        url: 'http://mirror/debian',
        suite: 'bookworm',
        components: ['main', 'contrib'],
        keyPath: APT_LAYOUT.keyPath,
      },
      'first line\nsecond line',
    );
    expect(text).toBe(
      [
        '# first line',
        '# second line',
        'Types: deb',
        'URIs: http://mirror/debian',
        'Suites: bookworm',
        'Components: main contrib',
        'Signed-By: /etc/apt/keyrings/rollbook-mirror.asc',
        '',
      ].join('\n'),
    );
    expect(parseDeb822Sources(text)).toEqual([
      {
        types: ['deb'],
        uris: ['http://mirror/debian'],
        suites: ['bookworm'],
        components: ['main', 'contrib'],
        enabled: true,
      },
    ]);
  });
});

describe('probe output', () => {
  it('dumps files through sh and base64 and reads them back byte for byte, skipping absent files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rollbook-dump-'));
    const content = 'deb http://mirror/debian bookworm main\n\u00e9\n=== not a header\n';
    writeFileSync(path.join(dir, 'a.list'), content);
    writeFileSync(path.join(dir, 'odd name.list'), 'skipped');
    const script = `${DUMP_FILES_FUNCTION}\necho lists=1\ndump ${dir}/*.list ${dir}/missing`;
    const dump = parseFileDump(execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' }));
    expect(dump.values.get('lists')).toBe('1');
    expect([...dump.files.entries()]).toEqual([[`${dir}/a.list`, content]]);
  });
});

describe('mirror sources step (apt)', () => {
  const fresh = aptState({
    '/etc/apt/sources.list': fixture('apt/sources.list'),
    '/etc/apt/sources.list.d/debian.sources': fixture('apt/debian.sources'),
    '/etc/apt/sources.list.d/disabled.sources': fixture('apt/disabled.sources'),
    '/etc/apt/sources.list.d/commented.list': fixture('apt/commented.list'),
  });

  it('records the backups, writes the mirror file, then moves every enabled foreign file to .bak', () => {
    const ops = planSwitch(fresh, planContext(APT_PARAMS));
    expect(summary(ops)).toEqual([
      `write ${BACKUPS_MANIFEST}`,
      'write /etc/apt/sources.list.d/rollbook-mirror.sources',
      'move /etc/apt/sources.list -> /etc/apt/sources.list.bak',
      'move /etc/apt/sources.list.d/debian.sources -> /etc/apt/sources.list.d/debian.sources.bak',
    ]);
    expect(ops[0]).toMatchObject({
      content: '/etc/apt/sources.list\n/etc/apt/sources.list.d/debian.sources\n',
    });
    expect(ops[1]).toMatchObject({ content: expect.stringContaining('Suites: bookworm\n') as string });
  });

  it('converges: the plan after its own operations is empty, and a revert after it restores every file', () => {
    const ctx = planContext(APT_PARAMS);
    const switched = applyOps(fresh, planSwitch(fresh, ctx));
    expect(planSwitch(switched, ctx)).toEqual([]);
    expect(sourcesStep.plan(switched, ctx)).toBeNull();

    const withKey = applyOps(switched, [
      { op: 'write', path: APT_LAYOUT.keyPath, content: MIRROR_KEY, before: null },
    ]);
    const revertOps = planRevert(withKey);
    expect(summary(revertOps)).toEqual([
      'move /etc/apt/sources.list.bak -> /etc/apt/sources.list',
      'move /etc/apt/sources.list.d/debian.sources.bak -> /etc/apt/sources.list.d/debian.sources',
      'remove /etc/apt/sources.list.d/rollbook-mirror.sources',
      `remove ${APT_LAYOUT.keyPath}`,
      `remove ${BACKUPS_MANIFEST}`,
    ]);
    const reverted = applyOps(withKey, revertOps);
    expect(reverted.files).toEqual(fresh.files);
    expect(planRevert(reverted)).toEqual([]);
  });

  it('finishes an interrupted switch: manifest written and one file moved, the rest still to do', () => {
    const ctx = planContext(APT_PARAMS);
    const ops = planSwitch(fresh, ctx);
    const interrupted = applyOps(fresh, ops.slice(0, 3));
    expect(summary(planSwitch(interrupted, ctx))).toEqual([
      'move /etc/apt/sources.list.d/debian.sources -> /etc/apt/sources.list.d/debian.sources.bak',
    ]);
  });

  it('says when a move replaces an older, different backup, and when the backup is already the same', () => {
    const ctx = planContext(APT_PARAMS);
    const same = aptState({
      '/etc/apt/sources.list': 'deb http://a/ x main\n',
      '/etc/apt/sources.list.bak': 'deb http://a/ x main\n',
    });
    const differs = aptState({
      '/etc/apt/sources.list': 'deb http://b/ x main\n',
      '/etc/apt/sources.list.bak': 'deb http://a/ x main\n',
    });
    const moveWhy = (state: MirrorState) =>
      planSwitch(state, ctx).flatMap((op) => (op.op === 'move' ? [op.why] : []));
    expect(moveWhy(same)).toEqual(['same as the existing backup']);
    expect(moveWhy(differs)).toEqual(['replaces an older, different backup']);
  });

  it('leaves a restored file alone in a revert when someone wrote it again after the switch', () => {
    const state = aptState({
      [BACKUPS_MANIFEST]: '/etc/apt/sources.list\n',
      '/etc/apt/sources.list': 'deb http://new/ x main\n',
      '/etc/apt/sources.list.bak': 'deb http://old/ x main\n',
    });
    expect(summary(planRevert(state))).toEqual([`remove ${BACKUPS_MANIFEST}`]);
  });

  it('keeps Docker CE repository files that rollbook wrote, and removes them on revert', () => {
    const docker = '/etc/apt/sources.list.d/rollbook-docker-ce.sources';
    const state = aptState({
      [docker]: 'Types: deb\nURIs: http://mirror/docker-ce\nSuites: bookworm\nComponents: stable\n',
    });
    expect(summary(planSwitch(state, planContext(APT_PARAMS)))).toEqual([
      'write /etc/apt/sources.list.d/rollbook-mirror.sources',
    ]);
    expect(summary(planRevert(state))).toEqual([`remove ${docker}`]);
  });

  it('takes the suite from the host codename and refuses a hostile one', () => {
    const ctx = planContext(APT_PARAMS, debianFacts({ osCodename: 'trixie' }));
    const write = planSwitch(aptState({}), ctx).find(
      (op) => op.op === 'write' && op.path === APT_LAYOUT.ours,
    );
    expect(write).toMatchObject({ content: expect.stringContaining('Suites: trixie') as string });
    const hostile = planContext(APT_PARAMS, debianFacts({ osCodename: 'x\nURIs: http://evil/' }));
    expect(() => planSwitch(aptState({}), hostile)).toThrow("the host's codename is no apt suite");
    expect(() =>
      planSwitch(aptState({}), planContext(APT_PARAMS, debianFacts({ osCodename: undefined }))),
    ).toThrow('set suite');
  });

  it('shows backups as diffs that remove the content from apt view', () => {
    const changes = sourcesStep.changes(planSwitch(fresh, planContext(APT_PARAMS)));
    const backup = changes.find((c) => c.target === '/etc/apt/sources.list');
    expect(backup?.action).toBe('move to /etc/apt/sources.list.bak (backup)');
    expect(backup?.diff).toContain('-deb http://deb.debian.org/debian bookworm main contrib');
    const created = changes.find((c) => c.target === APT_LAYOUT.ours);
    expect(created).toMatchObject({ kind: 'file', action: 'create' });
    expect(created?.diff).toContain('+Signed-By: /etc/apt/keyrings/rollbook-mirror.asc');
  });

  it('refuses to plan an apt switch without a URL or key, naming what is missing', () => {
    const noKey = chapterParamsSchemas.mirror.parse({ url: 'http://mirror/debian' });
    expect(() => planSwitch(fresh, planContext(noKey))).toThrow('signingKey is required on apt hosts');
    const yumOnly = chapterParamsSchemas.mirror.parse({ yum: { baseurl: 'http://mirror/centos/7' } });
    expect(() => planSwitch(fresh, planContext(yumOnly))).toThrow('url is required on apt hosts');
  });
});

describe('mirror signing key, refresh and upgrade', () => {
  it('writes the key only when its content differs', () => {
    const ctx = planContext(APT_PARAMS);
    expect(signingKeyStep.plan(aptState({}), ctx)).toMatchObject([
      { op: 'write', path: APT_LAYOUT.keyPath, content: MIRROR_KEY },
    ]);
    expect(signingKeyStep.plan(aptState({ [APT_LAYOUT.keyPath]: MIRROR_KEY }), ctx)).toBeNull();
  });

  it('skips the key and refresh steps on revert, and the upgrade unless asked', () => {
    const revert = planContext<MirrorParams>({ ...APT_PARAMS, revert: true });
    expect(signingKeyStep.skip?.(revert)).toMatch(/^reverting/);
    expect(refreshStep.skip?.(revert)).toMatch(/^reverting/);
    expect(upgradeStep.skip?.(planContext(APT_PARAMS))).toBe('upgrade not requested (upgrade: false)');
    expect(upgradeStep.skip?.(planContext({ ...APT_PARAMS, upgrade: true }))).toBeUndefined();
  });

  it('refreshes until the recorded hash matches the current sources and key, and the lists exist', () => {
    const files = {
      [APT_LAYOUT.ours]: 'Types: deb\nURIs: http://mirror/debian\nSuites: bookworm\nComponents: main\n',
      [APT_LAYOUT.keyPath]: MIRROR_KEY,
    };
    const state = aptState(files);
    expect(indexIsFresh(state)).toBe(false);
    const recorded = aptState({ ...files, [INDEX_STATE]: `sources-sha256=${sourcesHash(state)}\n` });
    expect(indexIsFresh(recorded)).toBe(true);
    expect(refreshStep.plan(recorded, planContext(APT_PARAMS))).toBeNull();
    expect(indexIsFresh({ ...recorded, values: new Map([['lists', '0']]) })).toBe(false);
    const otherKey = aptState({
      ...files,
      [APT_LAYOUT.keyPath]: `${MIRROR_KEY}x`,
      [INDEX_STATE]: `sources-sha256=${sourcesHash(state)}\n`,
    });
    expect(indexIsFresh(otherKey)).toBe(false);
    // A disabled or backed-up file does not change what the index is built from.
    const withBackup = aptState({ ...files, '/etc/apt/sources.list.bak': 'deb http://x/ y z\n' });
    expect(sourcesHash(withBackup)).toBe(sourcesHash(state));
  });

  it('refreshes apt with retries, yum and dnf with makecache, and upgrades non-interactively', () => {
    expect(refreshArgv('apt-get')).toEqual(['apt-get', 'update', '-q', '-o', 'Acquire::Retries=3']);
    expect(refreshArgv('dnf')).toEqual(['dnf', '-y', 'makecache']);
    expect(upgradeArgv('yum')).toEqual(['yum', '-y', 'update']);
    expect(upgradeArgv('apt-get').slice(0, 4)).toEqual([
      'env',
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      '-y',
    ]);
    expect(upgradeArgv('apt-get').at(-1)).toBe('upgrade');
  });

  it('lists the packages an apt upgrade simulation would change', () => {
    const sim = [
      'Reading package lists...',
      'Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable [amd64])',
      'Inst tzdata (2024a-0+deb12u1 Debian:12.5/stable [all])',
      'Conf libc6 (2.36-9+deb12u4 Debian:12.5/stable [amd64])',
    ].join('\n');
    const packages = parseAptSimulation(sim);
    expect(packages).toEqual([
      { name: 'libc6', from: '2.36-9+deb12u3', to: '2.36-9+deb12u4' },
      { name: 'tzdata', to: '2024a-0+deb12u1' },
    ]);
    expect(upgradeStep.changes({ tool: 'apt-get', packages }).map((c) => c.action)).toEqual([
      'upgrade 2.36-9+deb12u3 → 2.36-9+deb12u4',
      'upgrade to 2024a-0+deb12u1',
    ]);
    expect(upgradeStep.plan({ tool: 'apt-get', packages: [] }, planContext(APT_PARAMS))).toBeNull();
  });
});

describe('mirror on yum/dnf hosts (planned only: no yum host can be built offline)', () => {
  const ctx = planContext(YUM_PARAMS, centosFacts());

  it('reads repo files: enabled defaults to 1, enabled=0 turns a section off', () => {
    expect(parseRepoFile(fixture('yum/CentOS-Base.repo'))).toEqual([
      { id: 'base', enabled: true },
      { id: 'updates', enabled: true },
      { id: 'centosplus', enabled: false },
    ]);
    expect(parseRepoFile(fixture('yum/epel.repo'))).toEqual([{ id: 'epel', enabled: true }]);
  });

  it('writes a CentOS-Base-style repo: base, updates, extras on; centosplus, contrib off; gpgcheck everywhere', () => {
    const text = renderRepoFile(
      {
        baseurl: 'http://mirror/centos/7/',
        gpgkey: 'file:///etc/pki/rpm-gpg/RPM-GPG-KEY-rollbook-mirror',
        sections: YUM_PARAMS.yum!.sections,
      },
      'header',
    );
    expect(text).toContain(
      '[base]\nname=rollbook mirror - base\nbaseurl=http://mirror/centos/7/os/$basearch/\nenabled=1\ngpgcheck=1\n',
    );
    expect(text).toContain(
      '[contrib]\nname=rollbook mirror - contrib\nbaseurl=http://mirror/centos/7/contrib/$basearch/\nenabled=0\n',
    );
    expect(parseRepoFile(text)).toEqual([
      { id: 'base', enabled: true },
      { id: 'updates', enabled: true },
      { id: 'extras', enabled: true },
      { id: 'centosplus', enabled: false },
      { id: 'contrib', enabled: false },
    ]);
  });

  it('backs up every enabled repo file and leaves disabled ones, then converges', () => {
    const state = yumState({
      '/etc/yum.repos.d/CentOS-Base.repo': fixture('yum/CentOS-Base.repo'),
      '/etc/yum.repos.d/CentOS-Debuginfo.repo': fixture('yum/CentOS-Debuginfo.repo'),
      '/etc/yum.repos.d/epel.repo': fixture('yum/epel.repo'),
    });
    const ops = planSwitch(state, ctx);
    expect(summary(ops)).toEqual([
      `write ${BACKUPS_MANIFEST}`,
      'write /etc/yum.repos.d/rollbook-mirror.repo',
      'move /etc/yum.repos.d/CentOS-Base.repo -> /etc/yum.repos.d/CentOS-Base.repo.bak',
      'move /etc/yum.repos.d/epel.repo -> /etc/yum.repos.d/epel.repo.bak',
    ]);
    expect(ops[1]).toMatchObject({
      content: expect.stringContaining(
        'gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-rollbook-mirror',
      ) as string,
    });
    expect(planSwitch(applyOps(state, ops), ctx)).toEqual([]);
  });

  it('uses the given gpgkey URL, and skips writing a key when none is given', () => {
    const params = chapterParamsSchemas.mirror.parse({
      yum: { baseurl: 'http://mirror/centos/7', gpgkey: 'http://mirror/RPM-GPG-KEY' },
    });
    const withUrl = planContext(params, centosFacts());
    const write = planSwitch(yumState({}), withUrl).find(
      (op) => op.op === 'write' && op.path === YUM_LAYOUT.ours,
    );
    expect(write).toMatchObject({
      content: expect.stringContaining('gpgkey=http://mirror/RPM-GPG-KEY') as string,
    });
    expect(signingKeyStep.skip?.(withUrl)).toBe(
      'no signingKey: yum fetches the key from http://mirror/RPM-GPG-KEY',
    );
  });

  it('refreshes with makecache (dnf when present) and parses check-update for the upgrade', () => {
    expect(refreshTool(yumState({}))).toBe('yum');
    expect(refreshTool(yumState({}, { tool: 'dnf' }))).toBe('dnf');
    const changes = refreshStep.changes({ tool: 'dnf', state: yumState({}) });
    expect(changes).toEqual([
      { kind: 'command', target: 'dnf -y makecache', action: 'refresh the package index from the mirror' },
    ]);
    const out = [
      '',
      'bash.x86_64          4.2.46-35.el7_9        updates',
      'kernel.x86_64   3.10.0-1160.119.1.el7   updates',
      'Obsoleting Packages',
      'grub2.x86_64  1:2.02-0.87  updates',
    ].join('\n');
    expect(parseCheckUpdate(out)).toEqual([
      { name: 'bash.x86_64', version: '4.2.46-35.el7_9' },
      { name: 'kernel.x86_64', version: '3.10.0-1160.119.1.el7' },
    ]);
  });

  it('refuses hosts of neither family', () => {
    expect(() => layoutFor(debianFacts({ osFamily: 'unknown', osId: 'alpine' }), 'h1')).toThrow(
      'no apt or yum/dnf package family',
    );
    expect(layoutFor(centosFacts(), 'h1')).toBe(YUM_LAYOUT);
  });
});
