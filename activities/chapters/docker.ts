/**
 * Chapter 2: install Docker from the mirror, start it with the host's init
 * system, and prove it runs a container; or uninstall it (`state: absent`).
 *
 *   support     refuse hosts Docker cannot run on, with the reason
 *   repository  Docker CE's repository through the mirror, only with `source: docker-ce`
 *   packages    install (or remove / purge) the packages, pinned when asked
 *   group       add users to the docker group, which is root-equivalent
 *   service     enable at boot and start: systemd, SysV, upstart, OpenRC, or a bare dockerd
 *   daemon      wait until the daemon answers
 *   verify      load the verify image when missing and run it
 *
 * With `state: absent`, `repository` removes rollbook's Docker repository and
 * `packages` stops the daemon, removes the packages and, with `purgeData`,
 * empties /var/lib/docker; the other steps are skipped.
 */
import { aptGetArgv } from './apt';
import { promises as fs } from 'node:fs';
import { aptSuiteSchema, type DockerParams } from '../../src/chapters/catalog';
import type { HostFacts, InitSystem } from '../../src/facts';
import { shellCommand, shellJoin } from '../../src/shell/quote';
import { abortReason } from '../../src/ssh/semaphore';
import type { Change } from '../../src/steps/model';
import {
  DaemonStartingError,
  StepConfigError,
  UnsupportedHostError,
  VerifyFailedError,
} from '../steps/errors';
import {
  applyFileOps,
  execOn,
  fileChange,
  fileOpChange,
  runArgv,
  runOn,
  runPackageManager,
  runProbeScript,
  withHeartbeat,
  type FileOp,
} from '../steps/host';
import type { PlanContext, StepContext, StepDefinition } from '../steps/runner';
import { renderDeb822 } from './apt-sources';
import {
  APT_LAYOUT,
  ROLLBOOK_STATE_DIR,
  YUM_LAYOUT,
  layoutFor,
  probeMirror,
  refreshIndex,
  type MirrorState,
} from './mirror';

type Ctx = StepContext<DockerParams>;
type PlanCtx = PlanContext<DockerParams>;

const ABSENT_SKIP = 'uninstalling: the packages step stops and removes Docker';

// ---------------------------------------------------------------- support

const ARCH_64 = new Set(['x86_64', 'amd64', 'aarch64', 'arm64', 'ppc64le', 's390x', 'riscv64']);
const ARCH_32 = new Set([
  'i386',
  'i486',
  'i586',
  'i686',
  'armv5l',
  'armv6l',
  'armv7l',
  'armhf',
  'armel',
  'mips',
  'mipsel',
  'ppc',
]);
/** dpkg / rpm names of 32-bit userlands, which a 64-bit kernel can still run. */
const USERLAND_32 = new Set(['i386', 'i686', 'armhf', 'armel', 'armv7hl', 'mipsel', 'powerpc']);

/** The runbook's floor: RHEL/CentOS 7 with 3.10 is the oldest kernel Docker supports. */
export const MIN_KERNEL: readonly [number, number] = [3, 10];

/** Every reason Docker cannot run on this host; empty when it can. */
export function supportProblems(facts: HostFacts, userland?: string): string[] {
  const problems: string[] = [];
  if (ARCH_32.has(facts.arch)) problems.push(`32-bit architecture ${facts.arch}: Docker needs a 64-bit host`);
  else if (!ARCH_64.has(facts.arch)) problems.push(`unknown architecture ${JSON.stringify(facts.arch)}`);
  else if (userland && USERLAND_32.has(userland)) {
    problems.push(`32-bit userland (${userland}) on a 64-bit kernel: Docker needs a 64-bit system`);
  }

  const kernel = /^(\d+)\.(\d+)/.exec(facts.kernel);
  const [minMajor, minMinor] = MIN_KERNEL;
  if (!kernel) problems.push(`unreadable kernel version ${JSON.stringify(facts.kernel)}`);
  else {
    const major = Number(kernel[1]);
    const minor = Number(kernel[2]);
    if (major < minMajor || (major === minMajor && minor < minMinor)) {
      problems.push(
        `kernel ${facts.kernel} is older than ${minMajor}.${minMinor}, the oldest Docker supports`,
      );
    }
  }

  if (facts.osFamily === 'unknown') {
    problems.push(
      `distribution ${JSON.stringify(facts.osName || facts.osId)} is neither Debian/Ubuntu nor RHEL family`,
    );
  }
  return problems;
}

const USERLAND_PROBE = [
  'if command -v dpkg >/dev/null 2>&1; then echo "userland=$(dpkg --print-architecture)"',
  'elif command -v rpm >/dev/null 2>&1; then echo "userland=$(rpm --eval \'%{_arch}\')"; fi',
].join('\n');

export const supportStep: StepDefinition<DockerParams, { userland?: string }, never> = {
  name: 'support',
  skip: (ctx) =>
    ctx.params.state === 'absent' ? 'uninstalling: Docker can be removed from any host' : undefined,
  probe: async (ctx) => {
    const userland = (await runProbeScript(ctx, USERLAND_PROBE)).values.get('userland');
    return userland ? { userland } : {};
  },
  plan: (state, ctx) => {
    const problems = supportProblems(ctx.facts, state.userland);
    if (problems.length > 0) throw new UnsupportedHostError(ctx.target.host, problems.join('; '));
    return null;
  },
  changes: () => [],
  apply: () => Promise.resolve(),
};

// ---------------------------------------------------------------- repository

export const DOCKER_CE_APT_FILE = '/etc/apt/sources.list.d/rollbook-docker-ce.sources';
export const DOCKER_CE_YUM_FILE = '/etc/yum.repos.d/rollbook-docker-ce.repo';

const DOCKER_CE_HEADER =
  "Written by rollbook (runbook chapter 2): Docker CE's repository, served by the internal mirror\n" +
  'and signed with the mirror key.';

/**
 * Docker CE's repository file for this host, or null when the parameters want
 * none. On yum hosts `dockerCe.url` is the release directory (for example
 * `http://mirror/docker-ce/centos/7`), below which Docker lays out `$basearch/stable/`.
 */
export function renderDockerCeRepo(ctx: PlanCtx, family: 'apt' | 'yum'): string | null {
  const { params } = ctx;
  if (params.state === 'absent' || params.source !== 'docker-ce' || !params.dockerCe) return null;
  const repo = params.dockerCe;
  if (family === 'yum') {
    const header = DOCKER_CE_HEADER.split('\n').map((line) => `# ${line}`);
    const section = [
      '[docker-ce-stable]',
      'name=Docker CE stable (rollbook mirror)',
      `baseurl=${repo.url.replace(/\/+$/, '')}/$basearch/stable/`,
      'enabled=1',
      'gpgcheck=1',
      `gpgkey=file://${YUM_LAYOUT.keyPath}`,
    ];
    return `${[...header, '', ...section].join('\n')}\n`;
  }
  const suite = aptSuiteSchema.safeParse(repo.suite ?? ctx.facts.osCodename);
  if (!suite.success)
    throw new StepConfigError(ctx.target.host, 'no apt suite for Docker CE: set dockerCe.suite');
  const options = {
    url: repo.url,
    suite: suite.data,
    components: repo.components,
    keyPath: APT_LAYOUT.keyPath,
  };
  return renderDeb822(options, DOCKER_CE_HEADER);
}

export function planRepository(state: MirrorState, ctx: PlanCtx): FileOp[] {
  const family = state.layout.family;
  const path = family === 'apt' ? DOCKER_CE_APT_FILE : DOCKER_CE_YUM_FILE;
  const wanted = renderDockerCeRepo(ctx, family);
  const current = state.files.get(path) ?? null;
  if (wanted === current) return [];
  if (wanted === null) return current === null ? [] : [{ op: 'remove', path, before: current }];
  if (!state.files.has(state.layout.keyPath)) {
    throw new StepConfigError(
      ctx.target.host,
      `the mirror key ${state.layout.keyPath} is missing: run the mirror chapter first`,
    );
  }
  return [{ op: 'write', path, content: wanted, before: current }];
}

interface RepositoryPlan {
  ops: FileOp[];
}

export const repositoryStep: StepDefinition<DockerParams, MirrorState, RepositoryPlan> = {
  name: 'repository',
  probe: (ctx) => probeMirror(ctx),
  plan: (state, ctx) => {
    const ops = planRepository(state, ctx);
    return ops.length === 0 ? null : { ops };
  },
  changes: (plan): Change[] => [
    ...plan.ops.map(fileOpChange),
    { kind: 'command', target: 'package index', action: 'refresh from the mirror' },
  ],
  // The index is refreshed right away, and recorded, so chapter 1's refresh step stays `ok`.
  apply: async (ctx, plan) => {
    await applyFileOps(ctx, plan.ops);
    await refreshIndex(ctx, await probeMirror(ctx));
  },
};

// ---------------------------------------------------------------- packages

/** Every package name Docker has shipped under; an uninstall removes whichever is there. */
const DOCKER_PACKAGES = ['docker.io', 'docker-ce', 'docker-ce-cli', 'docker-engine', 'docker', 'lxc-docker'];

export interface InstalledPackage {
  name: string;
  version: string;
  /** dpkg `rc`: removed, configuration files left. */
  configOnly: boolean;
}

export interface PackagesState {
  family: 'apt' | 'yum';
  installed: InstalledPackage[];
  /** dockerd runs. */
  running: boolean;
  /** /var/lib/docker has entries. */
  hasData: boolean;
  /** What `apt-get -s install` would install, when the package is missing; empty when unknown. */
  simulated: Array<{ name: string; version: string }>;
  /**
   * dpkg was interrupted (a worker or host died mid-install): apt refuses to act
   * until `dpkg --configure -a` finishes the job. Absent means no.
   */
  interrupted?: boolean;
}

/** Parses `dpkg-query -W -f '${Package}\t${db:Status-Abbrev}\t${Version}\n'`. */
export function parseDpkgQuery(stdout: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  for (const line of stdout.split('\n')) {
    const [name = '', status = '', version = ''] = line.split('\t');
    if (status.startsWith('ii')) packages.push({ name, version, configOnly: false });
    else if (status.startsWith('rc')) packages.push({ name, version, configOnly: true });
  }
  return packages;
}

/** Parses `rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n'`; missing packages print a sentence without a tab. */
export function parseRpmQuery(stdout: string): InstalledPackage[] {
  return stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter((fields) => fields.length === 2 && fields[0] !== '')
    .map(([name = '', version = '']) => ({ name, version, configOnly: false }));
}

/** The packages to install for the parameters, with the pin as the package manager spells it. */
export function installSpecs(params: DockerParams, family: 'apt' | 'yum'): { main: string; specs: string[] } {
  const names =
    params.source === 'docker-ce'
      ? ['docker-ce', 'docker-ce-cli', 'containerd.io']
      : [params.package ?? (family === 'apt' ? 'docker.io' : 'docker')];
  const main = names[0] ?? 'docker.io';
  const pinned = new Set(params.source === 'docker-ce' ? ['docker-ce', 'docker-ce-cli'] : [main]);
  const separator = family === 'apt' ? '=' : '-';
  const specs = names.map((name) =>
    params.version && pinned.has(name) ? `${name}${separator}${params.version}` : name,
  );
  return { main, specs };
}

const DPKG_FORMAT = '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n';

function packagesProbeScript(family: 'apt' | 'yum'): string {
  const query =
    family === 'apt'
      ? shellCommand(['dpkg-query', '-W', `-f=${DPKG_FORMAT}`, ...DOCKER_PACKAGES])
      : shellCommand(['rpm', '-q', '--qf', '%{NAME}\\t%{VERSION}-%{RELEASE}\\n', ...DOCKER_PACKAGES]);
  return [
    'if [ -n "$(ls -A /var/lib/docker 2>/dev/null)" ]; then echo data=1; else echo data=0; fi',
    'if pgrep -x dockerd >/dev/null 2>&1 || pidof dockerd >/dev/null 2>&1; then echo running=1; else echo running=0; fi',
    ...(family === 'apt' ? [DPKG_INTERRUPTED_PROBE] : []),
    'echo ---',
    `${query} 2>/dev/null || true`,
  ].join('\n');
}

/** dpkg's journal (`updates/`) or its audit list is non-empty after an interrupted run. */
const DPKG_INTERRUPTED_PROBE =
  'if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || [ -n "$(dpkg --audit 2>/dev/null)" ]; then echo interrupted=1; fi';

/** Finishes what an interrupted dpkg left half-done, keeping changed config files. */
export const DPKG_REPAIR_ARGV = [
  'env',
  'DEBIAN_FRONTEND=noninteractive',
  'dpkg',
  '--configure',
  '-a',
  '--force-confdef',
  '--force-confold',
];

function familyOf(ctx: PlanCtx): 'apt' | 'yum' {
  return layoutFor(ctx.facts, ctx.target.host).family;
}

/** `Inst NAME (VERSION …)` lines of an apt simulation. */
export function parseInstallSimulation(stdout: string): Array<{ name: string; version: string }> {
  return [...stdout.matchAll(/^Inst (\S+) (?:\[\S+\] )?\((\S+)/gm)].map((m) => ({
    name: m[1] ?? '',
    version: m[2] ?? '',
  }));
}

async function probePackages(ctx: Ctx): Promise<PackagesState> {
  const family = familyOf(ctx);
  const result = await runOn(ctx, packagesProbeScript(family), { timeoutMs: 60_000 });
  const [head = '', body = ''] = result.stdout.split('---\n');
  const installed = family === 'apt' ? parseDpkgQuery(body) : parseRpmQuery(body);
  const state: PackagesState = {
    family,
    installed,
    running: head.includes('running=1'),
    hasData: head.includes('data=1'),
    simulated: [],
    ...(head.includes('interrupted=1') ? { interrupted: true } : {}),
  };
  if (ctx.params.state === 'present' && family === 'apt' && installPlan(state, ctx) !== null) {
    // Only to show what an install brings; before chapter 1 has run it can fail, and the plan then names the main package only.
    const { specs } = installSpecs(ctx.params, family);
    const sim = await execOn(
      ctx,
      shellCommand(['apt-get', '-s', '-q', '-o', 'Debug::NoLocking=1', 'install', ...specs]),
      { timeoutMs: 120_000 },
    );
    if (sim.exitCode === 0) state.simulated = parseInstallSimulation(sim.stdout);
  }
  return state;
}

export type PackagesPlan =
  | {
      kind: 'install';
      family: 'apt' | 'yum';
      specs: string[];
      main: string;
      /** The pinned version, or null for the newest. */
      version: string | null;
      /** The installed version of the main package, when a pin replaces it. */
      installed: string | null;
      /** The pin is older than what is installed. */
      downgrade: boolean;
      simulated: PackagesState['simulated'];
      /** Run `dpkg --configure -a` first. */
      repair: boolean;
    }
  | {
      kind: 'remove';
      family: 'apt' | 'yum';
      stop: boolean;
      purge: boolean;
      packages: string[];
      emptyData: boolean;
      /** Run `dpkg --configure -a` first. */
      repair: boolean;
    };

function installPlan(state: PackagesState, ctx: PlanCtx): PackagesPlan | null {
  const { main, specs } = installSpecs(ctx.params, state.family);
  const current = state.installed.find((p) => p.name === main && !p.configOnly);
  const version = ctx.params.version;
  const repair = state.interrupted === true;
  if (current && (!version || current.version === version) && !repair) return null;
  const downgrade = Boolean(current && version && compareVersions(version, current.version) < 0);
  const installed = current?.version ?? null;
  return {
    kind: 'install',
    family: state.family,
    specs,
    main,
    version: version ?? null,
    installed,
    downgrade,
    simulated: state.simulated,
    repair,
  };
}

export function planPackages(state: PackagesState, ctx: PlanCtx): PackagesPlan | null {
  if (ctx.params.state === 'present') {
    const problems = supportProblems(ctx.facts);
    if (problems.length > 0) throw new UnsupportedHostError(ctx.target.host, problems.join('; '));
    return installPlan(state, ctx);
  }
  const purge = ctx.params.purgeData;
  const packages = state.installed
    .filter((p) => !p.configOnly || (purge && state.family === 'apt'))
    .map((p) => p.name);
  const emptyData = purge && state.hasData;
  const repair = state.interrupted === true;
  if (packages.length === 0 && !state.running && !emptyData && !repair) return null;
  return { kind: 'remove', family: state.family, stop: state.running, purge, packages, emptyData, repair };
}

/**
 * Orders two package versions segment by segment (digits numerically, the rest
 * as text). Enough to tell whether a pin goes down or up; not a full
 * rpmvercmp or dpkg comparison, which the package manager still does itself.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => v.split(/[^A-Za-z0-9]+|(?<=\d)(?=\D)|(?<=\D)(?=\d)/).filter((s) => s !== '');
  const left = split(a);
  const right = split(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const order = /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x.localeCompare(y);
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

export function installArgv(plan: Extract<PackagesPlan, { kind: 'install' }>): string[] {
  if (plan.family === 'yum') {
    // yum install never moves an installed package down; downgrade does, and update moves it up.
    const verb = plan.installed === null ? 'install' : plan.downgrade ? 'downgrade' : 'update';
    return ['yum', '-y', verb, ...plan.specs];
  }
  const downgrade = plan.downgrade ? ['--allow-downgrades'] : [];
  return aptGetArgv(...downgrade, 'install', ...plan.specs);
}

export function removeArgv(plan: Extract<PackagesPlan, { kind: 'remove' }>): string[] {
  if (plan.family === 'yum') return ['yum', '-y', 'remove', ...plan.packages];
  return aptGetArgv(plan.purge ? 'purge' : 'remove', ...plan.packages);
}

/** Stops Docker whatever runs it: the service manager first, then a dockerd started without one. */
export function stopDaemonCommand(init: InitSystem): string {
  const byInit: Record<InitSystem, string[][]> = {
    systemd: [['systemctl', 'stop', 'docker.socket', 'docker.service']],
    sysv: [['service', 'docker', 'stop']],
    upstart: [['service', 'docker', 'stop']],
    openrc: [['rc-service', 'docker', 'stop']],
    none: [],
  };
  const viaInit = byInit[init].map((argv) => `${shellCommand(argv)} || true`);
  // A bare dockerd (init `none`) has only its pid file; wait up to 20 s for it to exit.
  const bare = [
    'if [ -s /var/run/docker.pid ]; then kill "$(cat /var/run/docker.pid)" 2>/dev/null || true; fi',
    'i=0; while pgrep -x dockerd >/dev/null 2>&1 && [ $i -lt 20 ]; do sleep 1; i=$((i+1)); done',
  ];
  return [...viaInit, ...bare].join('\n');
}

/**
 * Empties /var/lib/docker but keeps the directory when it is a mount point (a
 * volume, as on Docker-in-Docker hosts), where removing it would fail.
 */
export const EMPTY_DATA_COMMAND = [
  'if [ -d /var/lib/docker ]; then',
  '  find /var/lib/docker -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +',
  '  rmdir /var/lib/docker 2>/dev/null || true',
  'fi',
].join('\n');

const REPAIR_CHANGE: Change = {
  kind: 'command',
  target: 'dpkg --configure -a',
  action: 'finish the package install that was interrupted',
};

export function packagesChanges(plan: PackagesPlan): Change[] {
  return [...(plan.repair ? [REPAIR_CHANGE] : []), ...packageChanges(plan)];
}

function packageChanges(plan: PackagesPlan): Change[] {
  if (plan.kind === 'install') {
    const version = plan.simulated.find((p) => p.name === plan.main)?.version ?? plan.version;
    const from = plan.installed === null ? '' : `${plan.installed} → `;
    const action = version ? `install ${from}${version}` : 'install (newest from the mirror)';
    const others = plan.simulated
      .filter((p) => p.name !== plan.main)
      .map((p): Change => ({ kind: 'package', target: p.name, action: `install ${p.version}` }));
    return [{ kind: 'package', target: plan.main, action }, ...others];
  }
  const removal = plan.purge ? 'purge' : 'remove (configuration kept)';
  const data = plan.emptyData
    ? 'delete every image, container and volume'
    : plan.purge
      ? null
      : 'keep images, containers and volumes (purgeData: false)';
  return [
    ...(plan.stop ? [{ kind: 'service' as const, target: 'docker', action: 'stop' }] : []),
    ...plan.packages.map((name) => ({ kind: 'package' as const, target: name, action: removal })),
    ...(data ? [{ kind: 'file' as const, target: '/var/lib/docker', action: data }] : []),
  ];
}

export const packagesStep: StepDefinition<DockerParams, PackagesState, PackagesPlan> = {
  name: 'packages',
  probe: probePackages,
  plan: planPackages,
  changes: packagesChanges,
  apply: async (ctx, plan) => {
    if (plan.repair) await runPackageManager(ctx, DPKG_REPAIR_ARGV);
    if (plan.kind === 'install') {
      await runPackageManager(ctx, installArgv(plan));
      return;
    }
    // Stop first: the package scripts cannot stop a dockerd that no service manager started.
    if (plan.stop) await runOn(ctx, stopDaemonCommand(ctx.facts.init), { timeoutMs: 120_000 });
    if (plan.packages.length > 0) await runPackageManager(ctx, removeArgv(plan));
    if (plan.emptyData)
      await runOn(ctx, EMPTY_DATA_COMMAND, { timeoutMs: 30 * 60_000, heartbeatOnOutput: true });
  },
  verify: async (ctx, plan) => {
    if (plan.kind === 'install') await runArgv(ctx, ['docker', '--version']);
  },
};

// ---------------------------------------------------------------- group

export interface GroupState {
  /** Members of the docker group, or null when the group does not exist. */
  members: string[] | null;
  /** Users among the parameters that exist on the host. */
  existingUsers: string[];
}

/** Parses `getent group docker` (may be empty), `---`, then `getent passwd USER…`. */
export function parseGroupProbe(stdout: string): GroupState {
  const [groupPart = '', passwdPart = ''] = stdout.split('---\n');
  const groupLine = groupPart.split('\n').find((line) => line.startsWith('docker:'));
  const members =
    groupLine === undefined ? null : (groupLine.split(':')[3] ?? '').split(',').filter((m) => m !== '');
  const existingUsers = passwdPart
    .split('\n')
    .map((line) => line.split(':')[0] ?? '')
    .filter((name) => name !== '');
  return { members, existingUsers };
}

export interface GroupPlan {
  createGroup: boolean;
  add: string[];
}

export function planGroup(state: GroupState, ctx: PlanCtx): GroupPlan | null {
  const users = ctx.params.users;
  const missing = users.filter((user) => !state.existingUsers.includes(user));
  if (missing.length > 0) {
    throw new StepConfigError(
      ctx.target.host,
      `users to add to the docker group do not exist: ${missing.join(', ')}`,
    );
  }
  const add = users.filter((user) => !(state.members ?? []).includes(user));
  const createGroup = state.members === null && users.length > 0;
  return add.length === 0 && !createGroup ? null : { createGroup, add };
}

const ROOT_EQUIVALENT = 'members of docker are root-equivalent: the daemon runs containers as root for them';

export const groupStep: StepDefinition<DockerParams, GroupState, GroupPlan> = {
  name: 'group',
  skip: (ctx) =>
    ctx.params.state === 'absent'
      ? 'uninstalling: the docker group and its members are left as they are'
      : undefined,
  probe: async (ctx) => {
    const parts = [`${shellCommand(['getent', 'group', 'docker'])} || true`, shellCommand(['echo', '---'])];
    if (ctx.params.users.length > 0)
      parts.push(`${shellCommand(['getent', 'passwd', ...ctx.params.users])} || true`);
    const result = await runOn(ctx, parts.join('\n'), { timeoutMs: 30_000 });
    return parseGroupProbe(result.stdout);
  },
  plan: planGroup,
  changes: (plan) => [
    ...(plan.createGroup
      ? [{ kind: 'group' as const, target: 'docker', action: 'create (system group)' }]
      : []),
    ...plan.add.map((user) => ({
      kind: 'group' as const,
      target: 'docker',
      action: `add ${user} (${ROOT_EQUIVALENT})`,
    })),
  ],
  apply: async (ctx, plan) => {
    const commands = [
      ...(plan.createGroup ? [shellCommand(['groupadd', '--system', '-f', 'docker'])] : []),
      ...plan.add.map((user) => shellCommand(['usermod', '-aG', 'docker', user])),
    ];
    await runOn(ctx, shellJoin('&&', commands));
  },
};

// ---------------------------------------------------------------- service

export const INIT_SCRIPT = '/etc/init.d/docker';

export interface ServiceState {
  init: InitSystem;
  /** systemd: `systemctl is-enabled` / `is-active`. */
  unitEnabled: string;
  unitActive: string;
  /** SysV: an S link in a multi-user runlevel; OpenRC: in the default runlevel. */
  bootLinks: boolean;
  running: boolean;
  dockerdInstalled: boolean;
  initScript: string | null;
}

const SERVICE_PROBE = [
  'if command -v systemctl >/dev/null 2>&1; then',
  '  echo "unit_enabled=$(systemctl is-enabled docker.service 2>/dev/null)"',
  '  echo "unit_active=$(systemctl is-active docker.service 2>/dev/null)"',
  'fi',
  'if ls /etc/rc2.d/S*docker /etc/rc3.d/S*docker /etc/runlevels/default/docker >/dev/null 2>&1; then echo boot=1; else echo boot=0; fi',
  'if pgrep -x dockerd >/dev/null 2>&1 || pidof dockerd >/dev/null 2>&1; then echo running=1; else echo running=0; fi',
  'if command -v dockerd >/dev/null 2>&1; then echo dockerd=1; else echo dockerd=0; fi',
  `dump ${INIT_SCRIPT}`,
].join('\n');

/**
 * Debian's init script raises `ulimit -n 1048576` under `set -e`. In a
 * container the hard limit is lower and cannot be raised, so the script aborts
 * before starting dockerd. A failing ulimit only leaves the default limit, so
 * each ulimit line gets `|| true`; lines that already have it are left alone,
 * which makes the patch idempotent. apt keeps the patched conffile on upgrades
 * (`--force-confold`).
 */
export function patchInitScript(script: string): string {
  return script
    .split('\n')
    .map((line) => (/^\s*ulimit\s/.test(line) && !/\|\|\s*true\s*$/.test(line) ? `${line} || true` : line))
    .join('\n');
}

// setsid and closed descriptors detach dockerd from the SSH session, which can then close.
const START_BARE_DOCKERD =
  'setsid nohup dockerd --pidfile /var/run/docker.pid >>/var/log/rollbook-dockerd.log 2>&1 </dev/null &';

export type ServiceAction =
  | { kind: 'file'; path: string; before: string; after: string }
  | { kind: 'command'; command: string; change: Change };

export function planService(state: ServiceState, ctx: PlanCtx): ServiceAction[] | null {
  const actions: ServiceAction[] = [];
  const command = (argv: string[], action: string): ServiceAction => ({
    kind: 'command',
    command: shellCommand(argv),
    change: { kind: 'service', target: 'docker', action },
  });

  if (state.init === 'systemd') {
    const enable = state.unitEnabled !== 'enabled';
    const start = state.unitActive !== 'active';
    if (enable || start) {
      const action = [enable ? 'enable at boot' : '', start ? 'start' : ''].filter(Boolean).join(' and ');
      actions.push(command(['systemctl', 'enable', '--now', 'docker.service'], action));
    }
    return actions.length === 0 ? null : actions;
  }

  if (state.initScript !== null) {
    const patched = patchInitScript(state.initScript);
    if (patched !== state.initScript)
      actions.push({ kind: 'file', path: INIT_SCRIPT, before: state.initScript, after: patched });
  }
  if (state.init === 'sysv' && !state.bootLinks)
    actions.push(command(['update-rc.d', 'docker', 'defaults'], 'enable at boot'));
  if (state.init === 'openrc' && !state.bootLinks)
    actions.push(command(['rc-update', 'add', 'docker', 'default'], 'enable at boot'));
  if (!state.running) actions.push(startAction(state, ctx));
  return actions.length === 0 ? null : actions;
}

function startAction(state: ServiceState, ctx: PlanCtx): ServiceAction {
  const noBoot = state.init === 'none' ? ' (no init system: not started at boot)' : '';
  if (state.init === 'openrc') {
    return {
      kind: 'command',
      command: shellCommand(['rc-service', 'docker', 'start']),
      change: { kind: 'service', target: 'docker', action: 'start' },
    };
  }
  if (state.initScript !== null || state.init === 'sysv' || state.init === 'upstart') {
    return {
      kind: 'command',
      command: shellCommand(['service', 'docker', 'start']),
      change: { kind: 'service', target: 'docker', action: `start${noBoot}` },
    };
  }
  if (!state.dockerdInstalled && !ctx.checkMode) {
    throw new StepConfigError(ctx.target.host, 'dockerd is not installed: the packages step must run first');
  }
  return {
    kind: 'command',
    command: START_BARE_DOCKERD,
    change: { kind: 'service', target: 'dockerd', action: `start in the background${noBoot}` },
  };
}

export function parseServiceProbe(
  init: InitSystem,
  values: Map<string, string>,
  initScript: string | null,
): ServiceState {
  const value = (key: string) => values.get(key) ?? '';
  return {
    init,
    unitEnabled: value('unit_enabled'),
    unitActive: value('unit_active'),
    bootLinks: value('boot') === '1',
    running: value('running') === '1',
    dockerdInstalled: value('dockerd') === '1',
    initScript,
  };
}

export const serviceStep: StepDefinition<DockerParams, ServiceState, ServiceAction[]> = {
  name: 'service',
  skip: (ctx) => (ctx.params.state === 'absent' ? ABSENT_SKIP : undefined),
  probe: async (ctx) => {
    const dump = await runProbeScript(ctx, SERVICE_PROBE);
    return parseServiceProbe(ctx.facts.init, dump.values, dump.files.get(INIT_SCRIPT) ?? null);
  },
  plan: planService,
  changes: (actions) =>
    actions.map((a) =>
      a.kind === 'file' ? fileChange(a.path, a.before, a.after, 'patch ulimit lines (|| true)') : a.change,
    ),
  apply: async (ctx, actions) => {
    for (const action of actions) {
      if (action.kind === 'file')
        await applyFileOps(ctx, [
          { op: 'write', path: action.path, content: action.after, before: action.before },
        ]);
      else await runOn(ctx, action.command, { timeoutMs: 180_000 });
    }
  },
};

// ---------------------------------------------------------------- daemon

export interface DaemonState {
  serverVersion: string | null;
  detail: string;
}

const SERVER_VERSION = shellCommand(['docker', 'version', '--format', '{{.Server.Version}}']);

async function probeDaemon(ctx: Ctx): Promise<DaemonState> {
  const result = await execOn(ctx, SERVER_VERSION, { timeoutMs: 30_000 });
  const version = result.stdout.trim();
  if (result.exitCode === 0 && version !== '') return { serverVersion: version, detail: '' };
  const detail =
    (result.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit ${String(result.exitCode)}`;
  return { serverVersion: null, detail };
}

/** How long one attempt waits for the daemon before handing over to the activity's retry policy. */
export const DAEMON_WAIT_MS = 60_000;

export const daemonStep: StepDefinition<DockerParams, DaemonState, DaemonState> = {
  name: 'daemon',
  skip: (ctx) => (ctx.params.state === 'absent' ? ABSENT_SKIP : undefined),
  probe: probeDaemon,
  plan: (state) => (state.serverVersion === null ? state : null),
  changes: (state) => [
    {
      kind: 'command',
      target: SERVER_VERSION,
      action: `wait until the daemon answers (now: ${state.detail})`,
    },
  ],
  apply: async (ctx) => {
    const started = Date.now();
    let last = await probeDaemon(ctx);
    while (last.serverVersion === null) {
      const waited = Date.now() - started;
      if (waited >= DAEMON_WAIT_MS) throw new DaemonStartingError(ctx.target.host, waited, last.detail);
      await sleep(1_000, ctx.signal);
      ctx.heartbeat({ step: 'daemon', waitedMs: waited });
      last = await probeDaemon(ctx);
    }
  },
};

/** Waits, but gives up as soon as the activity is cancelled. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------- verify

export const IMAGES_DIR = `${ROLLBOOK_STATE_DIR}/images`;

export interface VerifyState {
  imagePresent: boolean;
  /** The worker's tar of the image, when the image is missing on the host. */
  tar?: { tarFile: string; sha256: string; remotePath: string; remoteSha256: string | null };
}

export interface VerifyPlan {
  ref: string;
  upload: { tarFile: string; sha256: string } | null;
  remotePath: string;
}

export function planVerify(state: VerifyState, ctx: PlanCtx): VerifyPlan | null {
  if (state.imagePresent) return null;
  if (!state.tar) {
    throw new StepConfigError(
      ctx.target.host,
      `image ${ctx.params.verifyImage} is missing on the host and the worker has no tar of it`,
    );
  }
  const upload =
    state.tar.remoteSha256 === state.tar.sha256
      ? null
      : { tarFile: state.tar.tarFile, sha256: state.tar.sha256 };
  return { ref: ctx.params.verifyImage, upload, remotePath: state.tar.remotePath };
}

async function probeVerify(ctx: Ctx): Promise<VerifyState> {
  const ref = ctx.params.verifyImage;
  const inspect = await execOn(ctx, `${shellCommand(['docker', 'image', 'inspect', ref])} >/dev/null 2>&1`, {
    timeoutMs: 30_000,
  });
  if (inspect.exitCode === 0) return { imagePresent: true };
  if (!ctx.images) return { imagePresent: false };

  const { tarFile, sha256 } = await ctx.images.tarFor(ref);
  // Content-addressed name: a file of that name with that checksum needs no second copy.
  const remotePath = `${IMAGES_DIR}/${sha256}.tar`;
  const sum = await execOn(ctx, `${shellCommand(['sha256sum', remotePath])} 2>/dev/null`, {
    timeoutMs: 120_000,
  });
  const remoteSha256 = sum.exitCode === 0 ? (sum.stdout.split(/\s+/)[0] ?? null) : null;
  return { imagePresent: false, tar: { tarFile, sha256, remotePath, remoteSha256 } };
}

export const verifyStep: StepDefinition<DockerParams, VerifyState, VerifyPlan> = {
  name: 'verify',
  skip: (ctx) => (ctx.params.state === 'absent' ? ABSENT_SKIP : undefined),
  probe: probeVerify,
  plan: planVerify,
  changes: (plan) => [
    ...(plan.upload
      ? [
          {
            kind: 'file' as const,
            target: plan.remotePath,
            action: `copy the tar of ${plan.ref} (sha256 ${plan.upload.sha256.slice(0, 12)})`,
          },
        ]
      : []),
    {
      kind: 'command',
      target: shellCommand(['docker', 'load', '-i', plan.remotePath]),
      action: `load ${plan.ref}`,
    },
  ],
  apply: async (ctx, plan) => {
    if (plan.upload) {
      const content = await fs.readFile(plan.upload.tarFile);
      await runArgv(ctx, ['mkdir', '-p', IMAGES_DIR]);
      const copy = () => ctx.ssh.writeFile(ctx.target, plan.remotePath, content, { mode: 0o600 });
      await withHeartbeat(ctx, { copy: plan.remotePath }, copy);
      const sum = await runArgv(ctx, ['sha256sum', plan.remotePath], { timeoutMs: 120_000 });
      if (!sum.stdout.startsWith(plan.upload.sha256)) {
        throw new VerifyFailedError(
          ctx.target.host,
          'verify',
          `the copied tar of ${plan.ref} has another checksum`,
        );
      }
    }
    await runArgv(ctx, ['docker', 'load', '-i', plan.remotePath], {
      timeoutMs: 300_000,
      heartbeatOnOutput: true,
    });
  },
  // The proof the runbook asks for: the daemon can run a container. Runs on every non-check run.
  check: async (ctx) => {
    const ref = ctx.params.verifyImage;
    const result = await execOn(ctx, shellCommand(['docker', 'run', '--rm', ref]), { timeoutMs: 120_000 });
    if (result.exitCode !== 0) {
      const tail = result.stderr.trim().split('\n').pop() ?? '';
      throw new VerifyFailedError(
        ctx.target.host,
        'verify',
        `docker run --rm ${ref} exited ${String(result.exitCode)}: ${tail.slice(0, 200)}`,
      );
    }
  },
};

export const DOCKER_STEPS = [
  supportStep,
  repositoryStep,
  packagesStep,
  groupStep,
  serviceStep,
  daemonStep,
  verifyStep,
];
