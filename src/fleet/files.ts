/** The files of a fleet directory: key pair, known_hosts, inventory.yaml and fleet.json. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { Document, isMap, isSeq } from 'yaml';
import { z } from 'zod';

import { FleetNotFoundError } from './errors';
import { run } from './process';
import type { FleetHost, FleetInfo } from './types';

export const FILES = {
  privateKey: 'id_ed25519',
  publicKey: 'id_ed25519.pub',
  knownHosts: 'known_hosts',
  inventory: 'inventory.yaml',
  info: 'fleet.json',
} as const;

export interface KeyPair {
  privateKeyFile: string;
  publicKeyFile: string;
  /** Short digest of the public key; containers are labelled with it. */
  keyId: string;
}

/** The fleet's client key pair, made with ssh-keygen (ed25519, no passphrase) when missing. */
export async function ensureKeyPair(dir: string, fleet: string): Promise<KeyPair> {
  const privateKeyFile = path.join(dir, FILES.privateKey);
  const publicKeyFile = path.join(dir, FILES.publicKey);
  if (!((await exists(privateKeyFile)) && (await exists(publicKeyFile)))) {
    await fs.rm(privateKeyFile, { force: true });
    await fs.rm(publicKeyFile, { force: true });
    const args = ['-q', '-t', 'ed25519', '-N', '', '-C', `rollbook-fleet-${fleet}`, '-f', privateKeyFile];
    await run('ssh-keygen', args);
  }
  const publicKey = await fs.readFile(publicKeyFile, 'utf8');
  const keyId = createHash('sha256').update(publicKey.trim()).digest('hex').slice(0, 16);
  return { privateKeyFile, publicKeyFile, keyId };
}

/** One known_hosts line per host: `<address> <keytype> <key>` (port 22 needs no brackets). */
export function renderKnownHosts(keys: ReadonlyArray<{ address: string; publicKey: string }>): string {
  const lines = keys.map(({ address, publicKey }) => {
    const [type, blob] = publicKey.trim().split(/\s+/);
    if (!type || !blob) throw new Error(`malformed host public key for ${address}: ${publicKey}`);
    return `${address} ${type} ${blob}`;
  });
  return lines.map((line) => `${line}\n`).join('');
}

/** The fleet as a rollbook inventory: shared defaults, one entry per host, group `fleet`. */
export function renderInventory(hosts: readonly FleetHost[], privateKeyFile: string): string {
  const doc = new Document({
    defaults: {
      user: 'root',
      port: 22,
      credential: { type: 'key-file', path: privateKeyFile },
    },
    hosts: Object.fromEntries(hosts.map((h) => [h.name, hostEntry(h)])),
    groups: { fleet: { hosts: hosts.map((h) => h.name) } },
  });
  // Small maps in flow style keep one host per line, like the hand-written examples.
  setFlow(doc.getIn(['defaults', 'credential'], true));
  const hostMap = doc.get('hosts', true);
  if (isMap(hostMap)) hostMap.items.forEach((pair) => setFlow(pair.value));
  setFlow(doc.getIn(['groups', 'fleet'], true));
  return doc.toString();
}

/** Only what differs from the defaults goes into a host's entry. */
function hostEntry(host: FleetHost): Record<string, string | number> {
  const entry: Record<string, string | number> = { address: host.address };
  if (host.user !== 'root') entry.user = host.user;
  if (host.port !== 22) entry.port = host.port;
  return entry;
}

function setFlow(node: unknown): void {
  if (isMap(node) || isSeq(node)) node.flow = true;
}

const hostSchema = z.object({
  name: z.string(),
  address: z.string(),
  port: z.number().int(),
  user: z.string(),
  container: z.string(),
  kind: z.enum(['sshd', 'systemd']),
});

const infoSchema = z.object({
  name: z.string(),
  dir: z.string(),
  network: z.string(),
  hosts: z.array(hostSchema),
  privateKeyFile: z.string(),
  publicKeyFile: z.string(),
  knownHostsFile: z.string(),
  inventoryFile: z.string(),
});

/** Writes fleet.json, inventory.yaml and known_hosts, each atomically (temp file + rename). */
export async function writeFleetFiles(info: FleetInfo, knownHosts: string): Promise<void> {
  await writeAtomic(info.knownHostsFile, knownHosts);
  await writeAtomic(info.inventoryFile, renderInventory(info.hosts, info.privateKeyFile));
  await writeAtomic(path.join(info.dir, FILES.info), `${JSON.stringify(info, null, 2)}\n`);
}

export async function writeKnownHosts(info: FleetInfo, knownHosts: string): Promise<void> {
  await writeAtomic(info.knownHostsFile, knownHosts);
}

/** Reads `<dir>/fleet.json`; throws FleetNotFoundError when there is none. */
export async function readFleetInfo(dir: string, fleet: string): Promise<FleetInfo> {
  const file = path.join(dir, FILES.info);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new FleetNotFoundError(fleet, file);
  }
  return infoSchema.parse(JSON.parse(text));
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, content, { mode: 0o644 });
  await fs.rename(temp, file);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** The keys already in a fleet's known_hosts, by address; empty when there is no file. */
export async function readKnownHostKeys(file: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  let text = '';
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return keys;
  }
  for (const line of text.split('\n')) {
    const [address, type, blob] = line.trim().split(/\s+/);
    if (address && type && blob) keys.set(address, `${type} ${blob}`);
  }
  return keys;
}
