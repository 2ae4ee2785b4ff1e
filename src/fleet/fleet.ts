/** Test fleets: groups of SSH hosts in local containers, with the files rollbook needs to reach them. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { STATE_DIR } from '../paths';
import { nextFreeAddress, parseSubnet } from './addresses';
import { AUDIT_LOG, parseAuditLog, type AuditEntry } from './audit';
import {
  FleetConflictError,
  FleetImageMissingError,
  InvalidFleetNameError,
  UnknownFleetHostError,
} from './errors';
import {
  ensureKeyPair,
  FILES,
  readFleetInfo,
  readKnownHostKeys,
  renderKnownHosts,
  writeFleetFiles,
  writeKnownHosts,
  type KeyPair,
} from './files';
import { labelFilter, LABEL, listFleetContainers, type FleetContainer } from './inspect';
import { ensureNetwork, existingNetwork, type FleetNetwork } from './network';
import { docker } from './process';
import { readHostKey, waitForHost } from './ready';
import type {
  FleetHost,
  FleetInfo,
  FleetKind,
  FleetLocation,
  ResolvedStartFleetOptions,
  StartFleetOptions,
} from './types';

export const FLEET_IMAGES: Readonly<Record<FleetKind, string>> = {
  sshd: 'rollbook/fleet-sshd:bookworm',
  systemd: 'rollbook/fleet-systemd:bookworm',
};

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const DEFAULT_READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_S = 10;
const KEYS_MOUNT = '/etc/fleet/authorized_keys';

/**
 * What dockerd or systemd inside a container needs on this machine. `--privileged`
 * fails here: the VM's capability bounding set lacks CAP_SYS_RESOURCE.
 */
const DIND_ARGS = [
  ...['--cgroupns', 'private', '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE'],
  ...['--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined'],
  ...['--security-opt', 'systempaths=unconfined', '--device-cgroup-rule', 'a *:* rwm'],
  ...['-e', 'FLEET_DIND=1', '--tmpfs', '/run', '--tmpfs', '/run/lock'],
];

/** Everything the host-level operations need about one fleet. */
interface FleetContext {
  name: string;
  dir: string;
  keys: KeyPair;
  network: FleetNetwork;
  readyTimeoutMs: number;
}

/** A host to bring up: an existing container to reuse, or a new one to create. */
interface HostPlan {
  host: FleetHost;
  existing: FleetContainer | undefined;
}

export function defaultBaseDir(): string {
  return path.join(STATE_DIR, 'fleets');
}

export function containerName(fleet: string, host: string): string {
  return `rollbook-${fleet}-${host}`;
}

export function networkName(fleet: string): string {
  return `rollbook-${fleet}`;
}

/**
 * Starts a fleet, or completes one that exists: running containers are reused,
 * stopped ones started, missing ones created. Returns once every host's sshd
 * answers, with known_hosts, inventory.yaml and fleet.json written.
 * Two concurrent calls for the same fleet name are not supported.
 */
export async function startFleet(options: StartFleetOptions): Promise<FleetInfo> {
  const opts = resolveStartOptions(options);
  const ctx = await openFleet(opts);
  const existing = await listFleetContainers(opts.name, ctx.network.name);
  const wanted = new Map<string, FleetKind | undefined>();
  for (let i = 1; i <= opts.count; i++) wanted.set(`${opts.hostPrefix}${i}`, opts.kind);
  for (const c of existing) if (!wanted.has(c.host)) wanted.set(c.host, undefined);

  const plans = planHosts(ctx, existing, wanted, opts.kind);
  const keys = await bringUp(ctx, plans);
  return saveFleet(ctx, sortHosts(plans.map((p) => p.host)), keys);
}

/** Removes the fleet's containers with their volumes, whatever else is on its network (a mirror), the network and the directory. */
export async function stopFleet(name: string, opts: FleetLocation = {}): Promise<void> {
  checkName('fleet', name);
  const filter = ['--filter', labelFilter(name)];
  const containers = lines(await docker(['ps', '-aq', ...filter]));
  if (containers.length > 0) await docker(['rm', '-fv', ...containers], { target: `fleet ${name}` });

  const networks = lines(await docker(['network', 'ls', '-q', ...filter]));
  // Containers the fleet did not start but put on its network (its package mirror) would block the removal.
  for (const network of networks) {
    const attached = lines(await docker(['ps', '-aq', '--filter', `network=${network}`]));
    if (attached.length > 0) await docker(['rm', '-fv', ...attached], { target: `network of fleet ${name}` });
  }
  if (networks.length > 0) await docker(['network', 'rm', ...networks], { target: networkName(name) });

  const volumes = lines(await docker(['volume', 'ls', '-q', ...filter]));
  if (volumes.length > 0) await docker(['volume', 'rm', '-f', ...volumes], { target: `fleet ${name}` });

  await fs.rm(fleetDir(name, opts.baseDir), { recursive: true, force: true });
}

/** Reads a started fleet's fleet.json. */
export async function loadFleet(name: string, opts: FleetLocation = {}): Promise<FleetInfo> {
  checkName('fleet', name);
  return readFleetInfo(fleetDir(name, opts.baseDir), name);
}

/**
 * Starts one more host in the fleet (or makes sure the named one runs), adds it to
 * known_hosts, inventory.yaml and fleet.json, and appends it to `fleet.hosts`.
 * Other hosts are left as they are, stopped ones included.
 */
export async function addHost(
  fleet: FleetInfo,
  hostName: string,
  kind: FleetKind = 'sshd',
): Promise<FleetHost> {
  checkName('host', hostName);
  const ctx = await reopenFleet(fleet);
  await requireImage(kind);
  const existing = await listFleetContainers(fleet.name, ctx.network.name);
  const [plan] = planHosts(ctx, existing, new Map([[hostName, kind]]), kind);
  if (plan === undefined) throw new Error(`no plan for host ${hostName}`);

  const keys = await bringUp(ctx, [plan]);
  const others = fleet.hosts.filter((h) => h.name !== hostName);
  const hosts = sortHosts([...others, plan.host]);
  await saveFleet(ctx, hosts, keys, await readKnownHostKeys(fleet.knownHostsFile));
  fleet.hosts.splice(0, fleet.hosts.length, ...hosts);
  return plan.host;
}

/** Stops the host's container (`docker stop`), as a machine that went down. */
export async function stopHost(fleet: FleetInfo, hostName: string): Promise<void> {
  const host = findHost(fleet, hostName);
  await docker(['stop', '-t', String(STOP_TIMEOUT_S), host.container], { target: host.container });
}

/** Starts a stopped host again and waits for its sshd; address and host key stay the same. */
export async function startHost(
  fleet: FleetInfo,
  hostName: string,
  readyTimeoutMs = DEFAULT_READY_TIMEOUT_MS,
): Promise<void> {
  const host = findHost(fleet, hostName);
  await docker(['start', host.container], { target: host.container });
  await waitForHost(host, readyTimeoutMs);
}

/**
 * Gives the host a new ed25519 host key and restarts its sshd, returning once the
 * new key is served. known_hosts keeps the old key, so clients see a mismatch.
 */
export async function regenerateHostKey(fleet: FleetInfo, hostName: string): Promise<void> {
  const host = findHost(fleet, hostName);
  await docker(['exec', host.container, '/usr/local/sbin/fleet-rekey'], {
    target: host.container,
    timeoutMs: 30_000,
  });
}

/** Rewrites known_hosts with the keys the running hosts have now; stopped hosts keep their line. */
export async function refreshKnownHosts(fleet: FleetInfo): Promise<void> {
  const keys = await readKnownHostKeys(fleet.knownHostsFile);
  const running = new Set(
    (await listFleetContainers(fleet.name, fleet.network)).filter((c) => c.running).map((c) => c.host),
  );
  for (const host of fleet.hosts.filter((h) => running.has(h.name))) {
    keys.set(host.address, await readHostKey(host.container));
  }
  await writeKnownHosts(fleet, knownHostsText(fleet.hosts, keys));
}

/** The commands SSH clients ran on the host, oldest first, read with `docker exec` (not SSH). */
export async function readAuditLog(fleet: FleetInfo, hostName: string): Promise<string[]> {
  return (await readAuditEntries(fleet, hostName)).map((e) => e.command);
}

/** Like {@link readAuditLog}, with the time each session started. */
export async function readAuditEntries(fleet: FleetInfo, hostName: string): Promise<AuditEntry[]> {
  const host = findHost(fleet, hostName);
  return parseAuditLog(await docker(['exec', host.container, 'cat', AUDIT_LOG], { target: host.container }));
}

/** Empties the host's audit log. */
export async function clearAuditLog(fleet: FleetInfo, hostName: string): Promise<void> {
  const host = findHost(fleet, hostName);
  await docker(['exec', host.container, 'truncate', '-s', '0', AUDIT_LOG], { target: host.container });
}

function resolveStartOptions(options: StartFleetOptions): ResolvedStartFleetOptions {
  checkName('fleet', options.name);
  if (!Number.isInteger(options.count) || options.count < 0 || options.count > 200) {
    throw new RangeError(
      `fleet ${options.name}: count must be an integer from 0 to 200, got ${options.count}`,
    );
  }
  const hostPrefix = options.hostPrefix ?? 'h';
  checkName('host', `${hostPrefix}1`);
  return {
    name: options.name,
    count: options.count,
    kind: options.kind ?? 'sshd',
    internal: options.internal ?? false,
    baseDir: options.baseDir ?? defaultBaseDir(),
    hostPrefix,
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
  };
}

async function openFleet(opts: ResolvedStartFleetOptions): Promise<FleetContext> {
  await requireImage(opts.kind);
  const dir = fleetDir(opts.name, opts.baseDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = await ensureKeyPair(dir, opts.name);
  const network = await ensureNetwork(opts.name, networkName(opts.name), opts.internal);
  return { name: opts.name, dir, keys, network, readyTimeoutMs: opts.readyTimeoutMs };
}

async function reopenFleet(fleet: FleetInfo): Promise<FleetContext> {
  const keys = await ensureKeyPair(fleet.dir, fleet.name);
  const network = await existingNetwork(fleet.name, fleet.network);
  return { name: fleet.name, dir: fleet.dir, keys, network, readyTimeoutMs: DEFAULT_READY_TIMEOUT_MS };
}

/**
 * Decides, per host, which container to reuse and which address a new one gets.
 * `wanted` maps host names to the kind asked for, or undefined to accept the
 * existing container's kind. A container started with another client key is
 * replaced at the same address: its authorized_keys no longer matches.
 */
function planHosts(
  ctx: FleetContext,
  existing: FleetContainer[],
  wanted: ReadonlyMap<string, FleetKind | undefined>,
  defaultKind: FleetKind,
): HostPlan[] {
  const byHost = new Map(existing.map((c) => [c.host, c]));
  const used = new Set([ctx.network.gateway, ...existing.flatMap((c) => (c.address ? [c.address] : []))]);
  const subnet = parseSubnet(ctx.network.subnet);

  return [...wanted].map(([name, kind]) => {
    const found = byHost.get(name);
    if (found?.kind !== undefined && kind !== undefined && found.kind !== kind) {
      throw new FleetConflictError(ctx.name, `host ${name} is a ${found.kind} host, not ${kind}`);
    }
    const reusable =
      found?.kind !== undefined && found.keyId === ctx.keys.keyId && found.address !== undefined;
    const address = found?.address ?? nextFreeAddress(subnet, used);
    used.add(address);
    const host = makeHost(ctx.name, name, address, found?.kind ?? kind ?? defaultKind);
    return { host, existing: reusable ? found : undefined };
  });
}

function makeHost(fleet: string, name: string, address: string, kind: FleetKind): FleetHost {
  return { name, address, port: 22, user: 'root', container: containerName(fleet, name), kind };
}

/** Creates or starts the planned containers, then waits for all; returns host keys by address. */
async function bringUp(ctx: FleetContext, plans: HostPlan[]): Promise<Map<string, string>> {
  await Promise.all(plans.map((plan) => startContainer(ctx, plan)));
  const keys = await Promise.all(plans.map((p) => waitForHost(p.host, ctx.readyTimeoutMs)));
  return new Map(plans.map((p, i) => [p.host.address, keys[i] ?? '']));
}

async function startContainer(ctx: FleetContext, plan: HostPlan): Promise<void> {
  const { host, existing } = plan;
  if (existing?.running) return;
  if (existing !== undefined) {
    await docker(['start', host.container], { target: host.container });
    return;
  }
  // A container of this name that cannot be reused (see planHosts) goes first.
  await docker(['rm', '-fv', host.container], { target: host.container }).catch(() => undefined);
  if (host.kind === 'systemd') await createVolume(ctx.name, dockerVolume(host));
  await docker(runArgs(ctx, host), { target: host.container, timeoutMs: 120_000 });
}

function runArgs(ctx: FleetContext, host: FleetHost): string[] {
  const labels = [
    ...['--label', `${LABEL.fleet}=${ctx.name}`, '--label', `${LABEL.host}=${host.name}`],
    ...['--label', `${LABEL.kind}=${host.kind}`, '--label', `${LABEL.key}=${ctx.keys.keyId}`],
  ];
  const network = ['--network', ctx.network.name, '--ip', host.address, '--hostname', host.name];
  // Docker's embedded DNS never answers outside names on an --internal network; without
  // these, every apt run waits 10-20 s on lookups (an SRV query first) before using the mirror.
  const dns = ['--dns-opt', 'timeout:1', '--dns-opt', 'attempts:1'];
  const keys = ['-v', `${ctx.keys.publicKeyFile}:${KEYS_MOUNT}:ro`];
  const dind = host.kind === 'systemd' ? [...DIND_ARGS, '-v', `${dockerVolume(host)}:/var/lib/docker`] : [];
  return [
    'run',
    '-d',
    '--name',
    host.container,
    ...labels,
    ...network,
    ...dns,
    ...keys,
    ...dind,
    FLEET_IMAGES[host.kind],
  ];
}

function dockerVolume(host: FleetHost): string {
  return `${host.container}-docker`;
}

/** A fresh, labelled volume; one left by a replaced container is removed first. */
async function createVolume(fleet: string, volume: string): Promise<void> {
  await docker(['volume', 'rm', '-f', volume], { target: volume });
  await docker(['volume', 'create', '--label', `${LABEL.fleet}=${fleet}`, volume], { target: volume });
}

async function saveFleet(
  ctx: FleetContext,
  hosts: FleetHost[],
  freshKeys: Map<string, string>,
  previousKeys: Map<string, string> = new Map(),
): Promise<FleetInfo> {
  const info: FleetInfo = {
    name: ctx.name,
    dir: ctx.dir,
    network: ctx.network.name,
    hosts,
    privateKeyFile: ctx.keys.privateKeyFile,
    publicKeyFile: ctx.keys.publicKeyFile,
    knownHostsFile: path.join(ctx.dir, FILES.knownHosts),
    inventoryFile: path.join(ctx.dir, FILES.inventory),
  };
  const keys = new Map([...previousKeys, ...freshKeys]);
  await writeFleetFiles(info, knownHostsText(hosts, keys));
  return info;
}

function knownHostsText(hosts: readonly FleetHost[], keys: Map<string, string>): string {
  const known = hosts.flatMap((h) => {
    const publicKey = keys.get(h.address);
    return publicKey ? [{ address: h.address, publicKey }] : [];
  });
  return renderKnownHosts(known);
}

async function requireImage(kind: FleetKind): Promise<void> {
  const image = FLEET_IMAGES[kind];
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', image], { target: image });
  } catch {
    throw new FleetImageMissingError(image);
  }
}

function findHost(fleet: FleetInfo, hostName: string): FleetHost {
  const host = fleet.hosts.find((h) => h.name === hostName);
  if (host === undefined) throw new UnknownFleetHostError(fleet.name, hostName);
  return host;
}

function checkName(kind: 'fleet' | 'host', value: string): void {
  if (!NAME_PATTERN.test(value)) throw new InvalidFleetNameError(kind, value);
}

function fleetDir(name: string, baseDir: string | undefined): string {
  return path.join(baseDir ?? defaultBaseDir(), name);
}

function sortHosts(hosts: FleetHost[]): FleetHost[] {
  return [...hosts].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

function lines(output: string): string[] {
  return output.split('\n').filter((line) => line.trim() !== '');
}
