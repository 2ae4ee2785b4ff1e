/**
 * A simulated fleet: N hosts replaying a recording, host i on loopback address
 * `<base>.(i / 200).(i % 200 + 1)` (Linux routes all of 127.0.0.0/8 to lo, so
 * each host has its own address on one port), with what rollbook needs to
 * reach them: a client key, known_hosts and an inventory, in a temporary
 * directory that `close()` removes.
 *
 * Every host has a host key of its own: ed25519 generation costs about 0.2 ms a
 * key (1,000 keys in under 200 ms on the 2-core test machine), so there is no
 * reason to share one.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { utils } from 'ssh2';

import { knownHostsName, type SshTarget } from '../../src/ssh';
import { generateEd25519 } from '../keys';
import { commandsPerPass, loadRecording, type RecordedCommand, type Recording } from './recording';
import { replayOf, startSimHost, type Replay, type SimHost, type SimHostStats } from './host';

export interface SimFleetOptions {
  count: number;
  /**
   * The first two octets of the hosts' addresses, e.g. `127.77` (the default).
   * Several candidates: the first whose addresses are all free, so two runs of
   * one test at once still get a fleet each.
   */
  base?: string | readonly string[];
  /** Default 2222. */
  port?: number;
  /** Inventory names are `<prefix>0001` and so on; default `sim-`. */
  prefix?: string;
  /** Default the committed converged-bookworm recording. */
  recording?: Recording;
  /** Default 10, OpenSSH's MaxSessions. */
  maxSessions?: number;
  /** Delay before each answer, in ms (`undefined` for an unrecorded command); default none. */
  latency?: (command: RecordedCommand | undefined) => number;
}

export interface SimFleet {
  hosts: SimHost[];
  recording: Recording;
  dir: string;
  /** The client key every host accepts (OpenSSH format), also in `privateKeyFile`. */
  privateKey: string;
  privateKeyFile: string;
  knownHostsFile: string;
  inventoryFile: string;
  /** The inventory in rollbook's own format, as a rollout's input carries it. */
  inventory: InventoryDocument;
  /** Commands one host runs in one converged pass of the recording. */
  commandsPerPass: number;
  /** Sums over every host. */
  totals(): FleetTotals;
  close(): Promise<void>;
}

export interface FleetTotals {
  connections: number;
  commands: number;
  unrecorded: string[];
  peakSessions: number;
  refusedSessions: number;
}

interface InventoryDocument {
  defaults: { user: string; port: number; credential: { type: 'key-file'; path: string } };
  hosts: Record<string, { address: string }>;
}

/**
 * Answers each command after as long as it took on the recorded host, and an
 * unrecorded one after 10 ms. An answer sent at once arrives in the same read
 * as sshd's reply to the exec request, which no real host does and which
 * SshPool does not survive (test/sim/README.md, "Timing").
 */
export const recordedLatency = (command: RecordedCommand | undefined): number => command?.durationMs ?? 10;

/** Hosts per /24: the last octet runs from 1 to 200. */
const PER_BLOCK = 200;
const MAX_HOSTS = 256 * PER_BLOCK;

export function simAddress(base: string, index: number): string {
  return `${base}.${Math.floor(index / PER_BLOCK)}.${(index % PER_BLOCK) + 1}`;
}

export async function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  const bases = typeof opts.base === 'string' ? [opts.base] : (opts.base ?? ['127.77']);
  const bad = bases.find((b) => !/^127\.\d{1,3}$/.test(b));
  if (bad !== undefined) throw new RangeError(`base must look like 127.N, got ${bad}`);
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > MAX_HOSTS) {
    throw new RangeError(`count must be from 1 to ${MAX_HOSTS}, got ${opts.count}`);
  }
  const port = opts.port ?? 2222;
  const recording = opts.recording ?? loadRecording();
  const client = generateEd25519();
  const authorizedKey = utils.parseKey(client.public);
  const spec = { ...opts, port, replay: replayOf(recording), authorizedKey };
  const hosts = await startOnFirstFreeBase(spec, bases);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-sim-'));

  const privateKeyFile = path.join(dir, 'id_ed25519');
  const knownHostsFile = path.join(dir, 'known_hosts');
  const inventoryFile = path.join(dir, 'inventory.json');
  const inventory: InventoryDocument = {
    defaults: { user: 'root', port, credential: { type: 'key-file', path: privateKeyFile } },
    hosts: Object.fromEntries(hosts.map((h) => [h.host, { address: h.address }])),
  };
  await fs.writeFile(privateKeyFile, client.private, { mode: 0o600 });
  const knownHosts = hosts.map((h) => `${knownHostsName(h.address, h.port)} ${h.publicKey}\n`).join('');
  await fs.writeFile(knownHostsFile, knownHosts, { mode: 0o600 });
  await fs.writeFile(inventoryFile, `${JSON.stringify(inventory, null, 2)}\n`);

  return {
    hosts,
    recording,
    dir,
    privateKey: client.private,
    privateKeyFile,
    knownHostsFile,
    inventoryFile,
    inventory,
    commandsPerPass: commandsPerPass(recording),
    totals: () => sumStats(hosts.map((h) => h.stats)),
    close: async () => {
      await Promise.all(hosts.map((h) => h.close()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

interface HostsSpec extends SimFleetOptions {
  port: number;
  replay: Replay;
  authorizedKey: ReturnType<typeof utils.parseKey>;
}

async function startOnFirstFreeBase(spec: HostsSpec, bases: readonly string[]): Promise<SimHost[]> {
  for (const [i, base] of bases.entries()) {
    const hosts = await startHosts(spec, base, i === bases.length - 1);
    if (hosts) return hosts;
  }
  throw new RangeError('base: expected at least one candidate');
}

/** Starts every host on `base`; undefined when an address is taken and `last` is false. */
async function startHosts(spec: HostsSpec, base: string, last: boolean): Promise<SimHost[] | undefined> {
  const hosts: SimHost[] = [];
  const width = Math.max(4, String(spec.count).length);
  try {
    for (let i = 0; i < spec.count; i++) {
      const host = await startSimHost({
        host: `${spec.prefix ?? 'sim-'}${String(i + 1).padStart(width, '0')}`,
        address: simAddress(base, i),
        port: spec.port,
        hostKey: generateEd25519().private,
        authorizedKey: spec.authorizedKey,
        user: 'root',
        replay: spec.replay,
        ...(spec.maxSessions === undefined ? {} : { maxSessions: spec.maxSessions }),
        ...(spec.latency ? { latency: spec.latency } : {}),
      });
      hosts.push(host);
    }
    return hosts;
  } catch (err) {
    await Promise.all(hosts.map((h) => h.close()));
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    if (inUse && !last) return undefined;
    const hint = inUse ? ` (another fleet on ${base}.x.y:${spec.port}?)` : '';
    throw new Error(`cannot start the simulated fleet: ${(err as Error).message}${hint}`, { cause: err });
  }
}

function sumStats(all: SimHostStats[]): FleetTotals {
  return {
    connections: all.reduce((n, s) => n + s.connections, 0),
    commands: all.reduce((n, s) => n + s.commands, 0),
    unrecorded: all.flatMap((s) => s.unrecorded),
    peakSessions: Math.max(0, ...all.map((s) => s.peakSessions)),
    refusedSessions: all.reduce((n, s) => n + s.refusedSessions, 0),
  };
}

/** How the pool reaches one simulated host. */
export function simTarget(fleet: SimFleet, host: SimHost): SshTarget {
  return {
    host: host.host,
    address: host.address,
    port: host.port,
    user: 'root',
    credential: { type: 'key-file', path: fleet.privateKeyFile },
  };
}

/** The inventory restricted to some hosts, for a rollout over part of the fleet. */
export function inventoryOf(fleet: SimFleet, hosts: readonly SimHost[]): InventoryDocument {
  const names = hosts.map((h) => h.host);
  return {
    defaults: fleet.inventory.defaults,
    hosts: Object.fromEntries(
      names.map((name) => [name, fleet.inventory.hosts[name] as { address: string }]),
    ),
  };
}
