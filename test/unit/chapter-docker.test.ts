import { chapterParamsSchemas } from '../../src/chapters/catalog';
import {
  DOCKER_CE_APT_FILE,
  DOCKER_CE_YUM_FILE,
  compareVersions,
  installArgv,
  installSpecs,
  packagesChanges,
  parseDpkgQuery,
  parseGroupProbe,
  parseRpmQuery,
  patchInitScript,
  planGroup,
  planPackages,
  planRepository,
  planService,
  planVerify,
  removeArgv,
  stopDaemonCommand,
  supportProblems,
  supportStep,
  groupStep,
  type PackagesState,
  type ServiceState,
} from '../../activities/chapters/docker';
import { APT_LAYOUT, YUM_LAYOUT, type MirrorState } from '../../activities/chapters/mirror';
import { MIRROR_KEY, centosFacts, debianFacts, fixture, planContext } from '../fixtures/chapters/helpers';

const params = (input: Record<string, unknown> = {}) => chapterParamsSchemas.docker.parse(input);

describe('docker support check', () => {
  it('accepts 64-bit Debian and CentOS 7 with its 3.10 kernel', () => {
    expect(supportProblems(debianFacts(), 'amd64')).toEqual([]);
    expect(supportProblems(centosFacts({ arch: 'aarch64' }), 'aarch64')).toEqual([]);
  });

  it('refuses 32-bit kernels and 32-bit userlands on 64-bit kernels', () => {
    expect(supportProblems(debianFacts({ arch: 'i686' }))).toEqual([
      '32-bit architecture i686: Docker needs a 64-bit host',
    ]);
    expect(supportProblems(debianFacts({ arch: 'armv7l' }))).toEqual([
      '32-bit architecture armv7l: Docker needs a 64-bit host',
    ]);
    expect(supportProblems(debianFacts(), 'i386')).toEqual([
      '32-bit userland (i386) on a 64-bit kernel: Docker needs a 64-bit system',
    ]);
  });

  it('refuses kernels older than 3.10 and unreadable kernel versions', () => {
    expect(supportProblems(debianFacts({ kernel: '3.2.0-4-amd64' }))).toEqual([
      'kernel 3.2.0-4-amd64 is older than 3.10, the oldest Docker supports',
    ]);
    expect(supportProblems(debianFacts({ kernel: '2.6.32-754.el6.x86_64' }))[0]).toMatch(/older than 3\.10/);
    expect(supportProblems(debianFacts({ kernel: '3.10.0' }))).toEqual([]);
    expect(supportProblems(debianFacts({ kernel: 'weird' }))).toEqual(['unreadable kernel version "weird"']);
  });

  it('refuses distributions of no known family, and lists every problem at once', () => {
    const facts = debianFacts({
      osId: 'alpine',
      osName: 'Alpine Linux v3.19',
      osFamily: 'unknown',
      arch: 'i586',
      kernel: '2.6.0',
    });
    expect(supportProblems(facts)).toEqual([
      '32-bit architecture i586: Docker needs a 64-bit host',
      'kernel 2.6.0 is older than 3.10, the oldest Docker supports',
      'distribution "Alpine Linux v3.19" is neither Debian/Ubuntu nor RHEL family',
    ]);
  });

  it('fails the support step with the reason, and skips it for an uninstall', () => {
    const ctx = planContext(params(), debianFacts({ arch: 'i686' }));
    expect(() => supportStep.plan({}, ctx)).toThrow(
      'unsupported host (32-bit architecture i686: Docker needs a 64-bit host): h1',
    );
    expect(supportStep.skip?.(planContext(params({ state: 'absent' })))).toMatch(/^uninstalling/);
  });
});

function packagesState(overrides: Partial<PackagesState> = {}): PackagesState {
  return { family: 'apt', installed: [], running: false, hasData: false, simulated: [], ...overrides };
}

describe('docker packages', () => {
  it('reads dpkg-query and rpm output, keeping removed-but-configured packages apart', () => {
    expect(
      parseDpkgQuery('docker.io\tii \t20.10.24+dfsg1-1+deb12u1\ndocker-ce\tun \t\ndocker\trc \t1.5-2\n'),
    ).toEqual([
      { name: 'docker.io', version: '20.10.24+dfsg1-1+deb12u1', configOnly: false },
      { name: 'docker', version: '1.5-2', configOnly: true },
    ]);
    expect(
      parseRpmQuery('package docker.io is not installed\ndocker\t1.13.1-209.git7d71120.el7.centos\n'),
    ).toEqual([{ name: 'docker', version: '1.13.1-209.git7d71120.el7.centos', configOnly: false }]);
  });

  it('installs docker.io from the mirror, non-interactively, pinned when asked', () => {
    const plan = planPackages(packagesState(), planContext(params({ version: '20.10.24+dfsg1-1+deb12u1' })));
    expect(plan).toMatchObject({
      kind: 'install',
      specs: ['docker.io=20.10.24+dfsg1-1+deb12u1'],
      downgrade: false,
    });
    const argv = installArgv(plan as Extract<typeof plan, { kind: 'install' }>);
    expect(argv.slice(0, 3)).toEqual(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get']);
    expect(argv).toContain('Dpkg::Options::=--force-confold');
    expect(argv.slice(-2)).toEqual(['install', 'docker.io=20.10.24+dfsg1-1+deb12u1']);
  });

  it('finishes an interrupted dpkg run before anything else, even when the package looks installed', () => {
    const installed = [{ name: 'docker.io', version: '20.10.24+dfsg1-1+deb12u1', configOnly: false }];
    const plan = planPackages(packagesState({ installed, interrupted: true }), planContext(params()));
    expect(plan).toMatchObject({ kind: 'install', repair: true });
    expect(packagesChanges(plan!)[0]).toEqual({
      kind: 'command',
      target: 'dpkg --configure -a',
      action: 'finish the package install that was interrupted',
    });
    const removal = planPackages(
      packagesState({ interrupted: true }),
      planContext(params({ state: 'absent' })),
    );
    expect(removal).toMatchObject({ kind: 'remove', repair: true, packages: [] });
  });

  it('is converged when the package is installed at the pinned version, and downgrades to an older pin', () => {
    const installed = [{ name: 'docker.io', version: '20.10.24+dfsg1-1+deb12u1', configOnly: false }];
    expect(planPackages(packagesState({ installed }), planContext(params()))).toBeNull();
    expect(
      planPackages(
        packagesState({ installed }),
        planContext(params({ version: '20.10.24+dfsg1-1+deb12u1' })),
      ),
    ).toBeNull();
    const older = planPackages(
      packagesState({ installed }),
      planContext(params({ version: '20.10.5+dfsg1-1+deb11u2' })),
    );
    expect(older).toMatchObject({ kind: 'install', downgrade: true, installed: '20.10.24+dfsg1-1+deb12u1' });
    expect(installArgv(older as Extract<typeof older, { kind: 'install' }>)).toContain('--allow-downgrades');
    expect(packagesChanges(older!)[0]?.action).toBe(
      'install 20.10.24+dfsg1-1+deb12u1 → 20.10.5+dfsg1-1+deb11u2',
    );
  });

  it('names Docker CE packages and RHEL packages with their pins', () => {
    const ce = params({
      source: 'docker-ce',
      dockerCe: { url: 'http://mirror/docker-ce' },
      version: '5:24.0.7-1~debian.12~bookworm',
    });
    expect(installSpecs(ce, 'apt').specs).toEqual([
      'docker-ce=5:24.0.7-1~debian.12~bookworm',
      'docker-ce-cli=5:24.0.7-1~debian.12~bookworm',
      'containerd.io',
    ]);
    expect(installSpecs(params({ version: '1.13.1' }), 'yum').specs).toEqual(['docker-1.13.1']);
    const plan = planPackages(packagesState({ family: 'yum' }), planContext(params(), centosFacts()));
    expect(installArgv(plan as Extract<typeof plan, { kind: 'install' }>)).toEqual([
      'yum',
      '-y',
      'install',
      'docker',
    ]);
  });

  it('lists what the simulation would install, main package first', () => {
    const simulated = [
      { name: 'runc', version: '1.1.5+ds1-1+b1' },
      { name: 'docker.io', version: '20.10.24+dfsg1-1+deb12u1' },
    ];
    const plan = planPackages(packagesState({ simulated }), planContext(params()));
    expect(packagesChanges(plan!)).toEqual([
      { kind: 'package', target: 'docker.io', action: 'install 20.10.24+dfsg1-1+deb12u1' },
      { kind: 'package', target: 'runc', action: 'install 1.1.5+ds1-1+b1' },
    ]);
    expect(packagesChanges(planPackages(packagesState(), planContext(params()))!)).toEqual([
      { kind: 'package', target: 'docker.io', action: 'install (newest from the mirror)' },
    ]);
  });

  it('uninstalls: stops a running daemon, removes (or purges) what is installed, keeps data unless purging', () => {
    const installed = [{ name: 'docker.io', version: '20.10.24', configOnly: false }];
    const keep = planPackages(
      packagesState({ installed, running: true, hasData: true }),
      planContext(params({ state: 'absent' })),
    );
    expect(keep).toEqual({
      kind: 'remove',
      family: 'apt',
      stop: true,
      purge: false,
      packages: ['docker.io'],
      emptyData: false,
      repair: false,
    });
    expect(removeArgv(keep as Extract<typeof keep, { kind: 'remove' }>).slice(-2)).toEqual([
      'remove',
      'docker.io',
    ]);
    expect(packagesChanges(keep!).map((c) => c.action)).toContain(
      'keep images, containers and volumes (purgeData: false)',
    );

    const purge = planPackages(
      packagesState({ installed: [{ name: 'docker.io', version: '1', configOnly: true }], hasData: true }),
      planContext(params({ state: 'absent', purgeData: true })),
    );
    expect(purge).toMatchObject({ stop: false, purge: true, packages: ['docker.io'], emptyData: true });
    expect(removeArgv(purge as Extract<typeof purge, { kind: 'remove' }>).slice(-2)).toEqual([
      'purge',
      'docker.io',
    ]);
  });

  it('is converged after an uninstall: nothing installed, nothing running, data gone when purged', () => {
    expect(planPackages(packagesState(), planContext(params({ state: 'absent' })))).toBeNull();
    expect(
      planPackages(packagesState({ hasData: true }), planContext(params({ state: 'absent' }))),
    ).toBeNull();
    const configOnly = [{ name: 'docker.io', version: '1', configOnly: true }];
    expect(
      planPackages(packagesState({ installed: configOnly }), planContext(params({ state: 'absent' }))),
    ).toBeNull();
  });

  it('stops Docker through the init system, then any bare dockerd by its pid file', () => {
    expect(stopDaemonCommand('systemd').split('\n')[0]).toBe(
      'systemctl stop docker.socket docker.service || true',
    );
    expect(stopDaemonCommand('none').split('\n')[0]).toMatch(/^if \[ -s \/var\/run\/docker\.pid \]/);
  });

  it('refuses to install on an unsupported host even when the support step was left out', () => {
    expect(() =>
      planPackages(packagesState(), planContext(params(), debianFacts({ kernel: '3.2.0' }))),
    ).toThrow('unsupported host');
  });

  it('orders versions well enough to tell a downgrade', () => {
    expect(compareVersions('20.10.5', '20.10.24')).toBe(-1);
    expect(compareVersions('5:24.0.7-1', '5:24.0.7-1')).toBe(0);
    expect(compareVersions('1.13.1-209', '1.13.1-162')).toBe(1);
  });
});

describe('docker group', () => {
  it('reads the group and which users exist', () => {
    const state = parseGroupProbe(
      'docker:x:998:alice,carol\n---\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n',
    );
    expect(state).toEqual({ members: ['alice', 'carol'], existingUsers: ['alice', 'bob'] });
    expect(parseGroupProbe('---\n')).toEqual({ members: null, existingUsers: [] });
  });

  it('adds missing members and says the group is root-equivalent', () => {
    const ctx = planContext(params({ users: ['alice', 'bob'] }));
    const plan = planGroup({ members: ['alice'], existingUsers: ['alice', 'bob'] }, ctx);
    expect(plan).toEqual({ createGroup: false, add: ['bob'] });
    const [change] = groupStep.changes(plan!);
    expect(change).toMatchObject({ kind: 'group', target: 'docker' });
    expect(change?.action).toMatch(/^add bob \(members of docker are root-equivalent/);
  });

  it('creates the group when missing, is converged when everyone is a member, and refuses unknown users', () => {
    const ctx = planContext(params({ users: ['alice'] }));
    expect(planGroup({ members: null, existingUsers: ['alice'] }, ctx)).toEqual({
      createGroup: true,
      add: ['alice'],
    });
    expect(planGroup({ members: ['alice'], existingUsers: ['alice'] }, ctx)).toBeNull();
    expect(planGroup({ members: null, existingUsers: [] }, planContext(params()))).toBeNull();
    expect(() => planGroup({ members: [], existingUsers: [] }, ctx)).toThrow(
      'users to add to the docker group do not exist: alice',
    );
  });
});

function serviceState(overrides: Partial<ServiceState> = {}): ServiceState {
  return {
    init: 'systemd',
    unitEnabled: 'enabled',
    unitActive: 'active',
    bootLinks: false,
    running: true,
    dockerdInstalled: true,
    initScript: null,
    ...overrides,
  };
}

describe('docker service', () => {
  it('enables and starts with systemctl enable --now, and is converged when enabled and active', () => {
    const ctx = planContext(params());
    expect(planService(serviceState(), ctx)).toBeNull();
    const plan = planService(
      serviceState({ unitEnabled: 'disabled', unitActive: 'inactive', running: false }),
      ctx,
    );
    expect(plan).toEqual([
      {
        kind: 'command',
        command: 'systemctl enable --now docker.service',
        change: { kind: 'service', target: 'docker', action: 'enable at boot and start' },
      },
    ]);
  });

  it('patches every ulimit line of the init script once, leaving lines already patched', () => {
    const script = fixture('init/docker');
    const patched = patchInitScript(script);
    expect(patched).toContain('\t\tulimit -n 1048576 || true\n');
    expect(patched).toContain('\t\t\tulimit -u unlimited || true\n');
    expect(patched).toContain('\t\t\tulimit -p unlimited || true\n');
    expect(patched).not.toContain('|| true || true');
    expect(patchInitScript(patched)).toBe(patched);
    expect(patched.replace(/ \|\| true/g, '')).toBe(script.replace(/ \|\| true/g, ''));
  });

  it('on SysV: patches the script, enables the boot links, starts with service', () => {
    const ctx = planContext(params(), debianFacts({ init: 'sysv' }));
    const plan = planService(
      serviceState({ init: 'sysv', running: false, initScript: fixture('init/docker') }),
      ctx,
    );
    expect(plan?.map((a) => (a.kind === 'file' ? `patch ${a.path}` : a.command))).toEqual([
      'patch /etc/init.d/docker',
      'update-rc.d docker defaults',
      'service docker start',
    ]);
    const converged = serviceState({
      init: 'sysv',
      running: true,
      bootLinks: true,
      initScript: patchInitScript(fixture('init/docker')),
    });
    expect(planService(converged, ctx)).toBeNull();
  });

  it('without an init system: uses the init script when there is one, else a background dockerd with a pid file', () => {
    const ctx = planContext(params(), debianFacts({ init: 'none' }));
    const withScript = planService(
      serviceState({ init: 'none', running: false, initScript: patchInitScript(fixture('init/docker')) }),
      ctx,
    );
    expect(withScript).toEqual([
      {
        kind: 'command',
        command: 'service docker start',
        change: { kind: 'service', target: 'docker', action: 'start (no init system: not started at boot)' },
      },
    ]);
    const bare = planService(serviceState({ init: 'none', running: false }), ctx);
    expect(bare?.[0]).toMatchObject({
      kind: 'command',
      command: expect.stringContaining('dockerd --pidfile /var/run/docker.pid') as string,
    });
    expect(() =>
      planService(serviceState({ init: 'none', running: false, dockerdInstalled: false }), ctx),
    ).toThrow('dockerd is not installed');
  });
});

describe('docker repository and verify', () => {
  const mirrorState = (layout: typeof APT_LAYOUT, files: Record<string, string>): MirrorState => ({
    layout,
    files: new Map(Object.entries(files)),
    values: new Map(),
  });
  const ce = params({ source: 'docker-ce', dockerCe: { url: 'http://mirror/docker-ce' } });

  it('adds Docker CE through the mirror, signed with the mirror key, only for source docker-ce', () => {
    const ops = planRepository(
      mirrorState(APT_LAYOUT, { [APT_LAYOUT.keyPath]: MIRROR_KEY }),
      planContext(ce),
    );
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: 'write', path: DOCKER_CE_APT_FILE });
    const content = ops[0]?.op === 'write' ? ops[0].content : '';
    expect(content).toContain(
      'URIs: http://mirror/docker-ce\nSuites: bookworm\nComponents: stable\nSigned-By: /etc/apt/keyrings/rollbook-mirror.asc\n',
    );
    expect(
      planRepository(
        mirrorState(APT_LAYOUT, { [APT_LAYOUT.keyPath]: MIRROR_KEY, [DOCKER_CE_APT_FILE]: content }),
        planContext(ce),
      ),
    ).toEqual([]);
    expect(planRepository(mirrorState(APT_LAYOUT, {}), planContext(params()))).toEqual([]);
    expect(() => planRepository(mirrorState(APT_LAYOUT, {}), planContext(ce))).toThrow(
      'run the mirror chapter first',
    );
  });

  it('removes the Docker CE repository when it is no longer wanted, and writes a yum repo on RHEL', () => {
    const state = mirrorState(APT_LAYOUT, { [DOCKER_CE_APT_FILE]: 'Types: deb\n' });
    expect(planRepository(state, planContext(params()))).toEqual([
      { op: 'remove', path: DOCKER_CE_APT_FILE, before: 'Types: deb\n' },
    ]);
    const yum = planRepository(
      mirrorState(YUM_LAYOUT, { [YUM_LAYOUT.keyPath]: MIRROR_KEY }),
      planContext(ce, centosFacts()),
    );
    expect(yum[0]).toMatchObject({ op: 'write', path: DOCKER_CE_YUM_FILE });
    expect(yum[0]?.op === 'write' ? yum[0].content : '').toContain(
      'baseurl=http://mirror/docker-ce/$basearch/stable/\nenabled=1\ngpgcheck=1\n',
    );
  });

  it('loads the verify image only when absent, copying its tar only when the host lacks that checksum', () => {
    const ctx = planContext(params());
    const tar = {
      tarFile: '/tmp/hello.tar',
      sha256: 'ab'.repeat(32),
      remotePath: `/var/lib/rollbook/images/${'ab'.repeat(32)}.tar`,
    };
    expect(planVerify({ imagePresent: true }, ctx)).toBeNull();
    expect(planVerify({ imagePresent: false, tar: { ...tar, remoteSha256: null } }, ctx)).toEqual({
      ref: 'rollbook/hello:1',
      upload: { tarFile: tar.tarFile, sha256: tar.sha256 },
      remotePath: tar.remotePath,
    });
    expect(
      planVerify({ imagePresent: false, tar: { ...tar, remoteSha256: tar.sha256 } }, ctx)?.upload,
    ).toBeNull();
    expect(() => planVerify({ imagePresent: false }, ctx)).toThrow('the worker has no tar of it');
  });
});
