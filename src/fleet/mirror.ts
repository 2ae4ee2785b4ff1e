/**
 * The fleet's offline apt mirror. `fleet/mirror/build.sh` makes a signed apt
 * repository under `.rollbook/mirror/`; {@link startMirror} serves it on a fleet
 * network as `http://mirror/debian`, the only package source of hosts on an
 * `--internal` network.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

import { REPO_ROOT, STATE_DIR } from '../paths';
import { formatIssues } from '../validation';
import { LocalCommandError, tail } from './errors';
import { FLEET_IMAGES } from './fleet';
import { docker, run, runCapture } from './process';

export interface MirrorInfo {
  /** Docker container name, `rollbook-mirror-<name>`. */
  container: string;
  network: string;
  /** DNS name of the mirror on `network`. */
  hostName: string;
  /** What a host puts in `URIs:`, e.g. `http://mirror/debian`. */
  url: string;
  suite: 'bookworm';
  components: ['main'];
  /** Local path of the binary public key, for `Signed-By:` once copied to a host. */
  keyFile: string;
  /** The same key, ASCII-armored; deb822 `Signed-By:` can embed it. */
  armoredKey: string;
  /** 40 hex digits, upper case. A new build has a new key. */
  fingerprint: string;
}

export interface StartMirrorOptions {
  /** Docker network the mirror joins, e.g. a fleet's `network`. */
  network: string;
  /** Suffix of the container name and value of its `rollbook.mirror` label; usually the fleet name. */
  name: string;
  /** How long to wait for the mirror to serve its InRelease, in milliseconds; default 20000. */
  readyTimeoutMs?: number;
}

/** Where build.sh puts the repository, its key and manifest.json. */
export const MIRROR_DIR = path.join(STATE_DIR, 'mirror');
export const MIRROR_HOST_NAME = 'mirror';
export const MIRROR_LABEL = 'rollbook.mirror';
/** Fingerprint of the build a container serves; a rebuild makes the container stale. */
const FINGERPRINT_LABEL = 'rollbook.mirror.fingerprint';

const BUILD_SCRIPT = path.join(REPO_ROOT, 'fleet', 'mirror', 'build.sh');
const SERVER_SCRIPT = path.join(REPO_ROOT, 'fleet', 'mirror', 'serve.py');
const BUILD_TIMEOUT_MS = 15 * 60_000;
const SERVER_IN_CONTAINER = '/usr/local/lib/rollbook/serve.py';
const SERVE_ROOT = '/srv';
const URL_PATH = '/debian';
const SERVER_PORT = 80;
const READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 250;
const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
// Docker's own rule for network names.
const NETWORK_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The mirror has not been built, or its files are incomplete. */
export class MirrorNotBuiltError extends Error {
  override readonly name = 'MirrorNotBuiltError';

  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`mirror not built: ${reason} (${file}); build it with: fleet/mirror/build.sh`);
  }
}

/** manifest.json exists but does not have the shape this code reads. */
export class MirrorManifestError extends Error {
  override readonly name = 'MirrorManifestError';

  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `invalid mirror manifest ${file}: ${problems.join('; ')}; rebuild it: fleet/mirror/build.sh --force`,
    );
  }
}

/** The mirror container stopped, or did not serve the repository in time. */
export class MirrorNotReadyError extends Error {
  override readonly name = 'MirrorNotReadyError';

  constructor(
    readonly container: string,
    readonly reason: string,
    /** Capped, one-line tail of `docker logs`. */
    readonly logsTail: string,
  ) {
    super(`mirror ${container} is not ready: ${reason}; docker logs: ${logsTail || 'empty'}`);
  }
}

/** A mirror or network name that cannot become part of a container name or a docker argument. */
export class InvalidMirrorNameError extends Error {
  override readonly name = 'InvalidMirrorNameError';

  constructor(
    readonly kind: 'mirror' | 'network',
    readonly value: string,
  ) {
    const rule = kind === 'mirror' ? `1-32 lowercase letters, digits and '-'` : `docker's network name rule`;
    super(
      `invalid ${kind} name ${JSON.stringify(value.slice(0, 64))}: use ${rule}, starting with a letter or digit`,
    );
  }
}

// Names, versions and paths from the manifest reach file paths and apt files.
const packageField = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$/);
const relativeFile = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.+~%-]*(\/[A-Za-z0-9_][A-Za-z0-9_.+~%-]*)*$/, 'a relative path without ..');

const manifestSchema = z.object({
  schema: z.literal(1),
  buildRev: z.string().min(1),
  builtAt: z.string().min(1),
  suite: z.literal('bookworm'),
  components: z.tuple([z.literal('main')]),
  architecture: packageField,
  origin: z.string(),
  label: z.string(),
  fingerprint: z.string().regex(/^[0-9A-F]{40}$/, '40 upper-case hex digits'),
  keyFiles: z.object({ binary: relativeFile, armored: relativeFile }),
  upstream: z.array(z.object({ suite: z.string(), date: z.string() })),
  closures: z.array(
    z.object({
      image: z.string(),
      imageId: z.string(),
      install: z.string(),
      packages: z.array(z.object({ name: packageField, version: packageField })),
    }),
  ),
  packages: z
    .array(
      z.object({
        name: packageField,
        version: packageField,
        architecture: packageField,
        filename: relativeFile,
        size: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1),
});

/** What build.sh recorded about one build: packages, versions, suite, key. */
export type MirrorManifest = z.infer<typeof manifestSchema>;

/** Parses manifest.json's text; `file` only names it in errors. */
export function parseMirrorManifest(text: string, file = 'manifest.json'): MirrorManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new MirrorManifestError(file, [`not JSON: ${(error as Error).message}`]);
  }
  const result = manifestSchema.safeParse(data);
  if (!result.success) throw new MirrorManifestError(file, formatIssues(result.error));
  return result.data;
}

/** The manifest of the current build. */
export async function readMirrorManifest(dir = MIRROR_DIR): Promise<MirrorManifest> {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new MirrorNotBuiltError(file, 'no manifest');
    throw error;
  }
  return parseMirrorManifest(text, file);
}

/** Runs fleet/mirror/build.sh: a no-op when the mirror is up to date, unless `force`. */
export async function buildMirror(opts: { force?: boolean } = {}): Promise<void> {
  const args = opts.force ? ['--force'] : [];
  await run(BUILD_SCRIPT, args, { target: 'mirror', timeoutMs: BUILD_TIMEOUT_MS });
}

export function mirrorContainerName(name: string): string {
  return `rollbook-mirror-${name}`;
}

/** What is known about an existing mirror container, from `docker inspect`. */
export interface MirrorContainerState {
  running: boolean;
  labels: Record<string, string>;
  networks: string[];
}

export type MirrorContainerPlan = 'create' | 'reuse' | 'replace';

/**
 * Whether a mirror container can be kept: it must run, be on the network and
 * serve the current build (its bind mounts point at the directories of the build
 * it started with, which a rebuild replaces).
 */
export function planMirrorContainer(
  current: MirrorContainerState | undefined,
  wanted: { network: string; fingerprint: string },
): MirrorContainerPlan {
  if (current === undefined) return 'create';
  const sameBuild = current.labels[FINGERPRINT_LABEL] === wanted.fingerprint;
  const onNetwork = current.networks.includes(wanted.network);
  return current.running && sameBuild && onNetwork ? 'reuse' : 'replace';
}

const inspectSchema = z.array(
  z.object({
    State: z.object({ Running: z.boolean() }),
    Config: z.object({ Labels: z.record(z.string(), z.string()).nullable() }),
    NetworkSettings: z.object({ Networks: z.record(z.string(), z.unknown()).nullable() }),
  }),
);

/** Reads `docker inspect` output of one container. */
export function parseMirrorInspect(json: string): MirrorContainerState | undefined {
  const [c] = inspectSchema.parse(JSON.parse(json));
  if (c === undefined) return undefined;
  return {
    running: c.State.Running,
    labels: c.Config.Labels ?? {},
    networks: Object.keys(c.NetworkSettings.Networks ?? {}),
  };
}

async function inspectMirror(container: string): Promise<MirrorContainerState | undefined> {
  try {
    return parseMirrorInspect(await docker(['container', 'inspect', container], { target: container }));
  } catch (error) {
    if (error instanceof LocalCommandError && /no such (container|object)/i.test(error.stderrTail)) {
      return undefined;
    }
    throw error;
  }
}

/** The docker run arguments of a mirror container: read-only, only dists/, pool/ and the public key. */
export function mirrorRunArgs(opts: {
  container: string;
  name: string;
  network: string;
  fingerprint: string;
  dir: string;
  image: string;
  /** Local path of fleet/mirror/serve.py. */
  server: string;
}): string[] {
  const served = `${SERVE_ROOT}${URL_PATH}`;
  // The private key lives beside dists/ and pool/, so the tree is mounted piecewise.
  const mounts = (
    [
      ['dists', 'dists'],
      ['pool', 'pool'],
      ['key/mirror.gpg', 'mirror.gpg'],
      ['key/mirror.asc', 'mirror.asc'],
    ] as const
  ).flatMap(([from, to]) => ['-v', `${path.join(opts.dir, from)}:${served}/${to}:ro`]);
  // prettier-ignore
  return [
    'run', '-d', '--name', opts.container, '--hostname', MIRROR_HOST_NAME,
    '--label', `${MIRROR_LABEL}=${opts.name}`, '--label', `${FINGERPRINT_LABEL}=${opts.fingerprint}`,
    '--network', opts.network, '--network-alias', MIRROR_HOST_NAME,
    '--read-only', '--tmpfs', '/tmp', ...mounts, '-v', `${opts.server}:${SERVER_IN_CONTAINER}:ro`,
    // Bypasses the fleet entrypoint: a mirror needs no host key and no logins.
    '--entrypoint', 'python3', opts.image, SERVER_IN_CONTAINER, String(SERVER_PORT), SERVE_ROOT,
  ];
}

/**
 * Serves the current build on `network` under the DNS name `mirror`; builds the
 * mirror first when it was never built. Idempotent: a running container of the
 * same build on the same network is kept, any other is replaced.
 *
 * It never rebuilds an existing mirror, so one test cannot change the key under
 * another: call {@link buildMirror} once at the start of a run, which rebuilds
 * when the fleet images or fleet/mirror/ changed. Nothing rebuilds when Debian
 * publishes new versions; `fleet/mirror/build.sh --force` does.
 */
export async function startMirror(opts: StartMirrorOptions): Promise<MirrorInfo> {
  checkNames(opts.name, opts.network);
  const manifest = await manifestOrBuild();
  const container = mirrorContainerName(opts.name);
  const wanted = { network: opts.network, fingerprint: manifest.fingerprint };

  const plan = planMirrorContainer(await inspectMirror(container), wanted);
  if (plan === 'replace') await docker(['rm', '-fv', container], { target: container });
  if (plan !== 'reuse') {
    const where = { dir: MIRROR_DIR, image: FLEET_IMAGES.sshd, server: SERVER_SCRIPT };
    const args = mirrorRunArgs({ ...wanted, ...where, container, name: opts.name });
    await docker(args, { target: container });
  }

  await waitForMirror(container, manifest, opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
  return mirrorInfo(container, opts.network, manifest);
}

/** Removes every mirror container started with this name; nothing to do is fine. */
export async function stopMirror(name: string): Promise<void> {
  checkNames(name, undefined);
  const filter = `label=${MIRROR_LABEL}=${name}`;
  const ids = (await docker(['ps', '-aq', '--filter', filter])).split('\n').filter((id) => id !== '');
  if (ids.length > 0) await docker(['rm', '-fv', ...ids], { target: mirrorContainerName(name) });
}

function checkNames(name: string, network: string | undefined): void {
  if (!NAME_PATTERN.test(name)) throw new InvalidMirrorNameError('mirror', name);
  if (network !== undefined && !(network.length <= 128 && NETWORK_PATTERN.test(network))) {
    throw new InvalidMirrorNameError('network', network);
  }
}

async function manifestOrBuild(): Promise<MirrorManifest> {
  try {
    return await readMirrorManifest();
  } catch (error) {
    if (!(error instanceof MirrorNotBuiltError)) throw error;
  }
  await buildMirror();
  return readMirrorManifest();
}

/**
 * Polls from inside the container until it serves this build's InRelease. A
 * different body means the mounts belong to another build.
 */
async function waitForMirror(container: string, manifest: MirrorManifest, timeoutMs: number): Promise<void> {
  const expected = await fs.readFile(path.join(MIRROR_DIR, 'dists', manifest.suite, 'InRelease'), 'utf8');
  const url = `http://127.0.0.1:${SERVER_PORT}${URL_PATH}/dists/${manifest.suite}/InRelease`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';

  for (;;) {
    try {
      const body = await docker(['exec', container, 'curl', '-fsS', '--max-time', '2', url], {
        target: container,
      });
      if (body === expected) return;
      last = 'it serves an InRelease of another build';
    } catch (error) {
      if (!(error instanceof LocalCommandError)) throw error;
      last = error.stderrTail;
      const state = await inspectMirror(container);
      if (!state?.running) return notReady(container, 'the container is not running');
    }
    if (Date.now() > deadline) return notReady(container, `no InRelease within ${timeoutMs} ms (${last})`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

async function notReady(container: string, reason: string): Promise<never> {
  let logs = '';
  try {
    const out = await runCapture('docker', ['logs', '--tail', '20', container], { target: container });
    logs = tail(`${out.stdout}\n${out.stderr}`);
  } catch {
    // The container may be gone; the reason says enough.
  }
  throw new MirrorNotReadyError(container, reason, logs);
}

async function mirrorInfo(container: string, network: string, manifest: MirrorManifest): Promise<MirrorInfo> {
  const keyFile = path.join(MIRROR_DIR, manifest.keyFiles.binary);
  const armoredKey = await fs.readFile(path.join(MIRROR_DIR, manifest.keyFiles.armored), 'utf8');
  return {
    container,
    network,
    hostName: MIRROR_HOST_NAME,
    url: `http://${MIRROR_HOST_NAME}${URL_PATH}`,
    suite: manifest.suite,
    components: manifest.components,
    keyFile,
    armoredKey,
    fingerprint: manifest.fingerprint,
  };
}

/** One deb822 stanza of an apt `.sources` file. */
export interface AptSource {
  uris: string[];
  suites: string[];
  components: string[];
  /** An absolute path of a keyring on the host, or an ASCII-armored key to embed. */
  signedBy: string;
}

/** A deb822 value must not break out of its field: no newline, nothing empty. */
function field(name: string, values: readonly string[]): string {
  if (values.length === 0) throw new RangeError(`deb822 field ${name} needs at least one value`);
  for (const v of values) {
    if (!/^[!-~]+$/.test(v))
      throw new RangeError(`deb822 field ${name}: ${JSON.stringify(v)} is not one printable word`);
  }
  return `${name}: ${values.join(' ')}`;
}

/**
 * Renders `.sources` text. An armored key is embedded the deb822 way: each line
 * indented by one space, an empty line written as ` .`.
 */
export function renderDeb822Source(source: AptSource): string {
  const lines = [
    'Types: deb',
    field('URIs', source.uris),
    field('Suites', source.suites),
    field('Components', source.components),
    signedByField(source.signedBy),
  ];
  return `${lines.join('\n')}\n`;
}

function signedByField(signedBy: string): string {
  const key = signedBy.trim();
  if (key.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    const body = key.split(/\r?\n/).map((line) => (line.trim() === '' ? ' .' : ` ${line.trimEnd()}`));
    return ['Signed-By:', ...body].join('\n');
  }
  if (!path.posix.isAbsolute(key))
    throw new RangeError('Signed-By must be an absolute path or an armored public key');
  return field('Signed-By', [key]);
}

/** The `.sources` stanza that points a host at the mirror; `keyPath` is the key's path on the host. */
export function mirrorSource(info: MirrorInfo, keyPath?: string): string {
  return renderDeb822Source({
    uris: [info.url],
    suites: [info.suite],
    components: [...info.components],
    signedBy: keyPath ?? info.armoredKey,
  });
}
