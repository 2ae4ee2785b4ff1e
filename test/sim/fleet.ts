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

import { knownHostsName } from '../../src/ssh';
import { commandsPerPass, loadRecording, type RecordedCommand, type Recording } from './recording';
import { replayOf, startSimHost, type SimHost, type SimHostStats } from './host';

export interface SimFleetOptions {
  count: number;
  /** The first two octets of the hosts' addresses; default `127.77`. Give each concurrent fleet its own. */
  base?: string;
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

/**
 * An ed25519 key pair that ssh2 can read back. ssh2 1.17's generateKeyPairSync
 * writes about one key in 450 with a 31-byte public key (a zero byte lost),
 * which its own parser then rejects as "Malformed OpenSSH private key".
 */
export function generateEd25519(): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

export function simAddress(base: string, index: number): string {
  return `${base}.${Math.floor(index / PER_BLOCK)}.${(index % PER_BLOCK) + 1}`;
}

export async function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  const base = opts.base ?? '127.77';
  if (!/^127\.\d{1,3}$/.test(base)) throw new RangeError(`base must look like 127.N, got ${base}`);
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > MAX_HOSTS) {
    throw new RangeError(`count must be from 1 to ${MAX_HOSTS}, got ${opts.count}`);
  }
  const port = opts.port ?? 2222;
  const prefix = opts.prefix ?? 'sim-';
  const recording = opts.recording ?? loadRecording();
  const replay = replayOf(recording);
  const client = generateEd25519();
  const authorizedKey = utils.parseKey(client.public);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-sim-'));
  const hosts: SimHost[] = [];

  try {
    const width = String(opts.count).length < 4 ? 4 : String(opts.count).length;
    for (let i = 0; i < opts.count; i++) {
      const host = await startSimHost({
        host: `${prefix}${String(i + 1).padStart(width, '0')}`,
        address: simAddress(base, i),
        port,
        hostKey: generateEd25519().private,
        authorizedKey,
        user: 'root',
        replay,
        ...(opts.maxSessions === undefined ? {} : { maxSessions: opts.maxSessions }),
        ...(opts.latency ? { latency: opts.latency } : {}),
      });
      hosts.push(host);
    }
  } catch (err) {
    await Promise.all(hosts.map((h) => h.close()));
    await fs.rm(dir, { recursive: true, force: true });
    const hint =
      (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ` (another fleet on ${base}.x.y:${port}?)` : '';
    throw new Error(`cannot start the simulated fleet: ${(err as Error).message}${hint}`, { cause: err });
  }

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

function sumStats(all: SimHostStats[]): FleetTotals {
  return {
    connections: all.reduce((n, s) => n + s.connections, 0),
    commands: all.reduce((n, s) => n + s.commands, 0),
    unrecorded: all.flatMap((s) => s.unrecorded),
    peakSessions: Math.max(0, ...all.map((s) => s.peakSessions)),
    refusedSessions: all.reduce((n, s) => n + s.refusedSessions, 0),
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
