/**
 * Chapter 1: switch a host's package sources to the internal mirror.
 *
 *   signing-key  write the mirror's public key where apt (or yum) expects it
 *   sources      move every other enabled source file to NAME.bak, write rollbook's own
 *   refresh      refresh the package index, recorded so an unchanged host is `ok` next time
 *   upgrade      upgrade every package, only when asked
 *
 * With `revert: true` the sources step puts the `.bak` files back and removes what
 * rollbook wrote; the others are skipped.
 *
 * Both families are planned here, but only the apt family runs on real hosts in
 * this project's tests: no yum/dnf host can be built offline, so the yum plans
 * (repo file, backups, makecache and update commands) are covered by unit tests
 * on fixture probe states only.
 */
import { aptGetArgv } from './apt';
import { createHash } from 'node:crypto';
import { aptSuiteSchema, type MirrorParams } from '../../src/chapters/catalog';
import type { HostFacts } from '../../src/facts';
import { shellCommand } from '../../src/shell/quote';
import type { Change } from '../../src/steps/model';
import { StepConfigError, UnsupportedHostError, VerifyFailedError } from '../steps/errors';
import {
  applyFileOps,
  fileOpChange,
  runArgv,
  runOn,
  runPackageManager,
  runProbeScript,
  writeFileAtomic,
  type FileDump,
  type FileOp,
} from '../steps/host';
import type { PlanContext, StepContext, StepDefinition } from '../steps/runner';
import { enabledSources, isAptSourcePath, renderDeb822 } from './apt-sources';
import { isYumRepoPath, parseCheckUpdate, parseRepoFile, renderRepoFile } from './yum-repos';

export type PackageFamily = 'apt' | 'yum';

/** Where rollbook keeps its own bookkeeping on a host. */
export const ROLLBOOK_STATE_DIR = '/var/lib/rollbook';
/** The files rollbook moved to `.bak`, one path a line, so a revert restores those and no others. */
export const BACKUPS_MANIFEST = `${ROLLBOOK_STATE_DIR}/mirror.backups`;
/** The hash of the sources the package index was last refreshed for. */
export const INDEX_STATE = `${ROLLBOOK_STATE_DIR}/mirror.state`;

interface Layout {
  family: PackageFamily;
  /** The source file rollbook writes. */
  ours: string;
  keyPath: string;
  isSourcePath(path: string): boolean;
  /** Whether a source file still enables a repository. */
  enables(path: string, content: string): boolean;
  /** A constant probe script: `dump` every file the chapter reads. */
  probeScript: string;
}

// `lists=1` when apt has downloaded at least one index, so a recorded hash with
// wiped lists (an image build's cleanup) still triggers a refresh.
const APT_PROBE = [
  "if ls /var/lib/apt/lists 2>/dev/null | grep -q 'Release$'; then echo lists=1; else echo lists=0; fi",
  `dump /etc/apt/sources.list /etc/apt/sources.list.bak /etc/apt/sources.list.d/* /etc/apt/keyrings/rollbook-mirror.asc ${BACKUPS_MANIFEST} ${INDEX_STATE}`,
].join('\n');

const YUM_PROBE = [
  'if command -v dnf >/dev/null 2>&1; then echo tool=dnf; else echo tool=yum; fi',
  'echo lists=1',
  `dump /etc/yum.repos.d/* /etc/pki/rpm-gpg/RPM-GPG-KEY-rollbook-mirror ${BACKUPS_MANIFEST} ${INDEX_STATE}`,
].join('\n');

export const APT_LAYOUT: Layout = {
  family: 'apt',
  ours: '/etc/apt/sources.list.d/rollbook-mirror.sources',
  keyPath: '/etc/apt/keyrings/rollbook-mirror.asc',
  isSourcePath: isAptSourcePath,
  enables: (path, content) => enabledSources(path, content).length > 0,
  probeScript: APT_PROBE,
};

export const YUM_LAYOUT: Layout = {
  family: 'yum',
  ours: '/etc/yum.repos.d/rollbook-mirror.repo',
  keyPath: '/etc/pki/rpm-gpg/RPM-GPG-KEY-rollbook-mirror',
  isSourcePath: isYumRepoPath,
  enables: (_path, content) => parseRepoFile(content).some((repo) => repo.enabled),
  probeScript: YUM_PROBE,
};

export function layoutFor(facts: HostFacts, host: string): Layout {
  if (facts.osFamily === 'debian') return APT_LAYOUT;
  if (facts.osFamily === 'rhel') return YUM_LAYOUT;
  throw new UnsupportedHostError(host, `no apt or yum/dnf package family for distribution "${facts.osId}"`);
}

export interface MirrorState extends FileDump {
  layout: Layout;
}

export async function probeMirror(ctx: StepContext<unknown>): Promise<MirrorState> {
  const layout = layoutFor(ctx.facts, ctx.target.host);
  return { layout, ...(await runProbeScript(ctx, layout.probeScript)) };
}

const HEADER =
  'Written by rollbook (runbook chapter 1): the internal package mirror.\n' +
  'The source files it replaced are kept as NAME.bak; a revert puts them back.';

/** The suite from the parameters or the host's codename, validated like any parameter. */
export function resolveSuite(ctx: PlanContext<{ suite?: string | undefined }>): string {
  const suite = ctx.params.suite ?? ctx.facts.osCodename;
  if (suite === undefined) {
    throw new StepConfigError(ctx.target.host, 'no apt suite: the host names no VERSION_CODENAME; set suite');
  }
  const parsed = aptSuiteSchema.safeParse(suite);
  if (!parsed.success)
    throw new StepConfigError(
      ctx.target.host,
      `the host's codename is no apt suite: ${JSON.stringify(suite)}`,
    );
  return parsed.data;
}

/** What rollbook's own source file must contain for these parameters. */
export function renderOurs(layout: Layout, ctx: PlanContext<MirrorParams>): string {
  const { params } = ctx;
  if (layout.family === 'apt') {
    if (!params.url) throw new StepConfigError(ctx.target.host, 'url is required on apt hosts');
    if (!params.signingKey)
      throw new StepConfigError(
        ctx.target.host,
        'signingKey is required on apt hosts: the mirror source is Signed-By it',
      );
    const options = {
      url: params.url,
      suite: resolveSuite(ctx),
      components: params.components,
      keyPath: layout.keyPath,
    };
    return renderDeb822(options, HEADER);
  }
  if (!params.yum) throw new StepConfigError(ctx.target.host, 'yum.baseurl is required on yum/dnf hosts');
  if (!params.yum.gpgkey && !params.signingKey) {
    throw new StepConfigError(
      ctx.target.host,
      'yum/dnf hosts need signingKey or yum.gpgkey: every section has gpgcheck=1',
    );
  }
  const gpgkey = params.yum.gpgkey ?? `file://${layout.keyPath}`;
  return renderRepoFile({ baseurl: params.yum.baseurl, gpgkey, sections: params.yum.sections }, HEADER);
}

function manifestPaths(state: MirrorState): string[] {
  return (state.files.get(BACKUPS_MANIFEST) ?? '').split('\n').filter((line) => line !== '');
}

/** rollbook's own source files: the mirror's, and Docker's repository that chapter 2 adds through it. */
export function isRollbookSource(path: string): boolean {
  return /\/rollbook-[A-Za-z0-9_.-]+$/.test(path);
}

/** Every source file that enables a repository, sorted. */
export function enabledSourceFiles(state: MirrorState): string[] {
  const { layout } = state;
  return [...state.files.entries()]
    .filter(([path, content]) => layout.isSourcePath(path) && layout.enables(path, content))
    .map(([path]) => path)
    .sort();
}

/** Enabled source files that rollbook did not write: the ones the switch moves aside. */
export function foreignSources(state: MirrorState): string[] {
  return enabledSourceFiles(state).filter((path) => !isRollbookSource(path));
}

/**
 * Switch to the mirror: record the backups first (so a revert knows them even
 * if interrupted right after), write rollbook's file, then move each foreign
 * file to NAME.bak. A rename replaces an older NAME.bak only when it differs,
 * and the change says so; an identical one was already kept.
 */
export function planSwitch(state: MirrorState, ctx: PlanContext<MirrorParams>): FileOp[] {
  const ours = renderOurs(state.layout, ctx);
  const foreign = foreignSources(state);
  const ops: FileOp[] = [];

  const recorded = manifestPaths(state);
  const manifest = [...new Set([...recorded, ...foreign])].sort();
  if (manifest.length !== recorded.length) {
    const before = state.files.get(BACKUPS_MANIFEST) ?? null;
    ops.push({ op: 'write', path: BACKUPS_MANIFEST, content: `${manifest.join('\n')}\n`, before });
  }

  const current = state.files.get(state.layout.ours) ?? null;
  if (current !== ours) ops.push({ op: 'write', path: state.layout.ours, content: ours, before: current });

  for (const path of foreign) {
    const content = state.files.get(path) ?? '';
    const backup = state.files.get(`${path}.bak`);
    const why =
      backup === undefined
        ? 'backup'
        : backup === content
          ? 'same as the existing backup'
          : 'replaces an older, different backup';
    ops.push({ op: 'move', from: path, to: `${path}.bak`, content, why });
  }
  return ops;
}

/**
 * Put the old configuration back: every recorded backup whose original is gone
 * returns, then rollbook's files go, the manifest last so an interrupted revert
 * still knows what to restore. A recorded file that exists again alongside its
 * backup is left alone: someone wrote it after the switch.
 */
export function planRevert(state: MirrorState): FileOp[] {
  const { layout, files } = state;
  const ops: FileOp[] = [];
  for (const path of manifestPaths(state)) {
    const backup = files.get(`${path}.bak`);
    if (backup !== undefined && !files.has(path)) {
      ops.push({ op: 'move', from: `${path}.bak`, to: path, content: backup, why: 'restore the backup' });
    }
  }
  const ours = [...files.keys()].filter((path) => layout.isSourcePath(path) && isRollbookSource(path)).sort();
  for (const path of [...ours, layout.keyPath, INDEX_STATE, BACKUPS_MANIFEST]) {
    const before = files.get(path);
    if (before !== undefined) ops.push({ op: 'remove', path, before });
  }
  return ops;
}

/** The sha256 of every enabled source file and the key: what the package index was built from. */
export function sourcesHash(state: MirrorState): string {
  const hash = createHash('sha256');
  for (const path of [...enabledSourceFiles(state), state.layout.keyPath]) {
    const content = state.files.get(path);
    if (content !== undefined) hash.update(`${path}\0${content}\0`);
  }
  return hash.digest('hex');
}

export function indexIsFresh(state: MirrorState): boolean {
  const recorded = /^sources-sha256=([0-9a-f]{64})$/m.exec(state.files.get(INDEX_STATE) ?? '')?.[1];
  return state.values.get('lists') === '1' && recorded === sourcesHash(state);
}

export type RefreshTool = 'apt-get' | 'yum' | 'dnf';

/** apt-get on Debian-family hosts; dnf where it exists on RHEL-family ones, else yum. */
async function packageTool(ctx: StepContext<unknown>): Promise<RefreshTool> {
  if (layoutFor(ctx.facts, ctx.target.host).family === 'apt') return 'apt-get';
  const probe = await runOn(ctx, 'if command -v dnf >/dev/null 2>&1; then echo dnf; else echo yum; fi');
  return probe.stdout.trim() === 'dnf' ? 'dnf' : 'yum';
}

export function refreshTool(state: MirrorState): RefreshTool {
  if (state.layout.family === 'apt') return 'apt-get';
  return state.values.get('tool') === 'dnf' ? 'dnf' : 'yum';
}

/** The index refresh command; apt retries each download three times. */
export function refreshArgv(tool: RefreshTool): string[] {
  if (tool === 'apt-get') {
    return ['apt-get', 'update', '-q', '-o', 'Acquire::Retries=3'];
  }
  return [tool, '-y', 'makecache'];
}

/** Upgrade commands; apt keeps a locally changed config file instead of asking. */
export function upgradeArgv(tool: RefreshTool): string[] {
  if (tool !== 'apt-get') return [tool, '-y', 'update'];
  return aptGetArgv('upgrade');
}

// Older apt warns and exits 0 when a download fails; these lines mean the index is incomplete.
const FETCH_FAILED = /^(W|E): (Failed to fetch|Some index files failed to download)/m;

/**
 * Refreshes the index and records the hash of the sources it was built from.
 * Shared with chapter 2, which adds Docker's repository and must leave the
 * record matching, or the next rollout's refresh would not be `ok`.
 */
export async function refreshIndex(ctx: StepContext<unknown>, state: MirrorState): Promise<void> {
  const result = await runPackageManager(ctx, refreshArgv(refreshTool(state)));
  const failed = FETCH_FAILED.exec(`${result.stdout}\n${result.stderr}`);
  if (failed)
    throw new VerifyFailedError(
      ctx.target.host,
      'refresh',
      `${failed[0]}: the mirror did not serve every index`,
    );
  await writeFileAtomic(ctx, { path: INDEX_STATE, content: `sources-sha256=${sourcesHash(state)}\n` });
}

const REVERT_SKIP = 'reverting: the sources step removes the key after the sources that use it';

export const signingKeyStep: StepDefinition<MirrorParams, MirrorState, FileOp[]> = {
  name: 'signing-key',
  skip: (ctx) => {
    if (ctx.params.revert) return REVERT_SKIP;
    if (!ctx.params.signingKey && ctx.params.yum?.gpgkey && ctx.facts.osFamily === 'rhel') {
      return `no signingKey: yum fetches the key from ${ctx.params.yum.gpgkey}`;
    }
    return undefined;
  },
  probe: probeMirror,
  plan: (state, ctx) => {
    const key = ctx.params.signingKey;
    if (!key) throw new StepConfigError(ctx.target.host, 'signingKey is required: the mirror is signed');
    const current = state.files.get(state.layout.keyPath) ?? null;
    return current === key
      ? null
      : [{ op: 'write', path: state.layout.keyPath, content: key, before: current }];
  },
  changes: (ops) => ops.map(fileOpChange),
  apply: applyFileOps,
};

export const sourcesStep: StepDefinition<MirrorParams, MirrorState, FileOp[]> = {
  name: 'sources',
  probe: probeMirror,
  plan: (state, ctx) => {
    const ops = ctx.params.revert ? planRevert(state) : planSwitch(state, ctx);
    return ops.length === 0 ? null : ops;
  },
  changes: (ops) => ops.map(fileOpChange),
  apply: applyFileOps,
  // apt-cache parses every source file when it opens the cache: a malformed entry fails here, not in the next install.
  verify: async (ctx) => {
    if (ctx.facts.osFamily === 'debian') await runArgv(ctx, ['apt-cache', 'policy'], { timeoutMs: 60_000 });
  },
};

interface RefreshPlan {
  tool: RefreshTool;
  /** The sources the refresh is for; their hash is recorded afterwards. */
  state: MirrorState;
}

export const refreshStep: StepDefinition<MirrorParams, MirrorState, RefreshPlan> = {
  name: 'refresh',
  skip: (ctx) =>
    ctx.params.revert
      ? 'reverting: the restored sources may be unreachable from this host; refresh once they are'
      : undefined,
  probe: probeMirror,
  plan: (state) => (indexIsFresh(state) ? null : { tool: refreshTool(state), state }),
  changes: (plan): Change[] => [
    {
      kind: 'command',
      target: shellCommand(refreshArgv(plan.tool)),
      action: 'refresh the package index from the mirror',
    },
  ],
  apply: (ctx, plan) => refreshIndex(ctx, plan.state),
  verify: async (ctx) => {
    const url = ctx.params.url;
    if (ctx.facts.osFamily !== 'debian' || !url) return;
    const policy = await runArgv(ctx, ['apt-cache', 'policy'], { timeoutMs: 60_000 });
    if (!policy.stdout.includes(url.replace(/\/+$/, ''))) {
      throw new VerifyFailedError(ctx.target.host, 'refresh', `apt-cache policy does not list ${url}`);
    }
  },
};

export interface UpgradeState {
  tool: RefreshTool;
  packages: Array<{ name: string; from?: string; to: string }>;
}

/** `Inst NAME [OLD] (NEW …)` lines of `apt-get -s upgrade`. */
export function parseAptSimulation(stdout: string): UpgradeState['packages'] {
  const packages: UpgradeState['packages'] = [];
  for (const match of stdout.matchAll(/^Inst (\S+) (?:\[(\S+)\] )?\((\S+)/gm)) {
    const [, name = '', from, to = ''] = match;
    packages.push({ name, ...(from ? { from } : {}), to });
  }
  return packages;
}

async function probeUpgrades(ctx: StepContext<MirrorParams>): Promise<UpgradeState> {
  const tool = await packageTool(ctx);
  if (tool === 'apt-get') {
    // A simulation needs no lock, so probing never waits for another apt.
    const sim = await runArgv(ctx, ['apt-get', '-s', '-q', '-o', 'Debug::NoLocking=1', 'upgrade'], {
      timeoutMs: 120_000,
    });
    return { tool, packages: parseAptSimulation(sim.stdout) };
  }
  // check-update exits 100 when updates exist, 0 when none, 1 on error.
  const result = await runOn(ctx, `${shellCommand([tool, '-q', 'check-update'])} || [ $? -eq 100 ]`, {
    timeoutMs: 300_000,
  });
  return { tool, packages: parseCheckUpdate(result.stdout).map((p) => ({ name: p.name, to: p.version })) };
}

export const upgradeStep: StepDefinition<MirrorParams, UpgradeState, UpgradeState> = {
  name: 'upgrade',
  skip: (ctx) => {
    if (ctx.params.revert) return 'reverting: nothing is upgraded';
    return ctx.params.upgrade ? undefined : 'upgrade not requested (upgrade: false)';
  },
  probe: probeUpgrades,
  plan: (state) => (state.packages.length === 0 ? null : state),
  changes: (plan) =>
    plan.packages.map((p) => ({
      kind: 'package' as const,
      target: p.name,
      action: p.from ? `upgrade ${p.from} → ${p.to}` : `upgrade to ${p.to}`,
    })),
  apply: async (ctx, plan) => {
    await runPackageManager(ctx, upgradeArgv(plan.tool), { timeoutMs: 60 * 60_000 });
  },
};

export const MIRROR_STEPS = [signingKeyStep, sourcesStep, refreshStep, upgradeStep];
