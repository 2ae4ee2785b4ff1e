/**
 * OpenSSH known_hosts, read and appended the way ssh(1) does (sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT"): comma-separated host patterns with `*`, `?` and `!`, `[host]:port`
 * for ports other than 22, hashed names `|1|salt|hmac`, and `@revoked` /
 * `@cert-authority` markers. Certificate authorities are not supported: their lines
 * are skipped, so a host known only through a CA is reported as unknown.
 */

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export type HostKeyStatus = 'match' | 'mismatch' | 'unknown' | 'revoked';

export interface KnownHostKey {
  /** Key type from the line, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The public key blob, base64 as in the file. */
  key: string;
}

export interface KnownHostEntry extends KnownHostKey {
  marker: 'revoked' | 'cert-authority' | null;
  /** Comma-separated patterns, or null for a hashed entry. */
  patterns: string[] | null;
  /** Salt and HMAC-SHA1 of a hashed entry. */
  hashed: { salt: Buffer; hash: Buffer } | null;
  /** 1-based line number, for messages. */
  line: number;
}

const HASH_MAGIC = '|1|';

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** Hashes a name as `ssh-keygen -H` does: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `${HASH_MAGIC}${salt.toString('base64')}|${hash.toString('base64')}`;
}

/** `SHA256:` fingerprint of a public key blob, as ssh-keygen -l prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type recorded inside a public key blob (its first SSH string). */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return '';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** Parses known_hosts text; malformed lines are skipped, as ssh(1) does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const entry = parseLine(raw, index + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

function parseLine(raw: string, line: number): KnownHostEntry | null {
  const fields = raw.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return null;

  let marker: KnownHostEntry['marker'] = null;
  if (fields[0].startsWith('@')) {
    if (fields[0] === '@revoked') marker = 'revoked';
    else if (fields[0] === '@cert-authority') marker = 'cert-authority';
    else return null;
    fields.shift();
  }

  const [hosts, keyType, key] = fields;
  if (hosts === undefined || keyType === undefined || key === undefined) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return null;

  if (hosts.startsWith(HASH_MAGIC)) {
    const hashed = parseHashed(hosts);
    return hashed ? { marker, patterns: null, hashed, keyType, key, line } : null;
  }
  const patterns = hosts
    .toLowerCase()
    .split(',')
    .filter((p) => p !== '');
  return { marker, patterns, hashed: null, keyType, key, line };
}

function parseHashed(field: string): KnownHostEntry['hashed'] {
  const [salt, hash] = field.slice(HASH_MAGIC.length).split('|');
  if (salt === undefined || hash === undefined) return null;
  const saltBytes = Buffer.from(salt, 'base64');
  const hashBytes = Buffer.from(hash, 'base64');
  // HMAC-SHA1 is 20 bytes; ssh(1) also insists on a 20-byte salt.
  if (saltBytes.length !== 20 || hashBytes.length !== 20) return null;
  return { salt: saltBytes, hash: hashBytes };
}

/** Whether an entry's host field covers `name` (from {@link knownHostsName}). */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const actual = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return timingSafeEqual(actual, entry.hashed.hash);
  }
  return matchPatternList(name, entry.patterns ?? []);
}

/**
 * OpenSSH's pattern list semantics: a matching negated pattern rejects the name
 * outright, otherwise any matching positive pattern accepts it.
 */
export function matchPatternList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (!matchPattern(name, negated ? pattern.slice(1) : pattern)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** Glob match with `*` (any run, including empty) and `?` (one character). */
export function matchPattern(name: string, pattern: string): boolean {
  let n = 0;
  let p = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const pc = pattern[p];
    if (pc === '*') {
      starP = p++;
      starN = n;
    } else if (pc !== undefined && (pc === '?' || pc === name[n])) {
      p++;
      n++;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The verdict for a presented key against parsed entries. */
export function verifyKey(
  entries: readonly KnownHostEntry[],
  name: string,
  keyType: string,
  key: string,
): HostKeyStatus {
  const presented = Buffer.from(key, 'base64');
  const sameKey = (e: KnownHostEntry) =>
    e.keyType === keyType && Buffer.from(e.key, 'base64').equals(presented);
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && entryMatches(e, name));

  if (forHost.some((e) => e.marker === 'revoked' && sameKey(e))) return 'revoked';
  const known = forHost.filter((e) => e.marker === null);
  if (known.some(sameKey)) return 'match';
  // A known key of another type counts as a change too: the pool prefers the
  // known key types in negotiation, so a host only presents another type when
  // it no longer has the one recorded.
  return known.length > 0 ? 'mismatch' : 'unknown';
}

/** Per-file queue, so appends from one process never interleave. */
const appendQueues = new Map<string, Promise<unknown>>();

/**
 * Parsed files by path, reused while the file's size and change time stay the
 * same: a fleet's known_hosts grows with the fleet and is read on every connection.
 */
const parsedFiles = new Map<string, { stamp: string; entries: KnownHostEntry[] }>();

/** One known_hosts file. Every call checks it afresh, so edits by other tools are seen. */
export class KnownHostsFile {
  readonly file: string;

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  async entries(): Promise<KnownHostEntry[]> {
    const stamp = await this.stamp();
    const cached = parsedFiles.get(this.file);
    if (stamp !== null && cached?.stamp === stamp) return cached.entries;
    const entries = parseKnownHosts(await this.readText());
    if (stamp !== null) parsedFiles.set(this.file, { stamp, entries });
    return entries;
  }

  private async stamp(): Promise<string | null> {
    try {
      const stat = await fs.stat(this.file, { bigint: true });
      return `${stat.ino}:${stat.size}:${stat.ctimeNs}:${stat.mtimeNs}`;
    } catch {
      return null;
    }
  }

  /** Keys recorded for the host (revoked ones excluded). */
  async lookup(host: string, port: number): Promise<KnownHostKey[]> {
    const name = knownHostsName(host, port);
    const entries = await this.entries();
    return entries
      .filter((e) => e.marker === null && entryMatches(e, name))
      .map(({ keyType, key }) => ({ keyType, key }));
  }

  async verify(host: string, port: number, keyType: string, keyBase64: string): Promise<HostKeyStatus> {
    return verifyKey(await this.entries(), knownHostsName(host, port), keyType, keyBase64);
  }

  /**
   * Records a key for the host, hashed when the file already holds hashed names.
   * Creates the file (mode 0600) and its directory when missing. Does nothing when
   * the same key is already recorded, so concurrent first connections add one line.
   */
  async append(host: string, port: number, keyType: string, keyBase64: string): Promise<void> {
    const previous = appendQueues.get(this.file) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.appendNow(host, port, keyType, keyBase64));
    appendQueues.set(this.file, next);
    try {
      await next;
    } finally {
      if (appendQueues.get(this.file) === next) appendQueues.delete(this.file);
    }
  }

  private async appendNow(host: string, port: number, keyType: string, keyBase64: string): Promise<void> {
    const text = await this.readText();
    const entries = parseKnownHosts(text);
    const name = knownHostsName(host, port);
    if (verifyKey(entries, name, keyType, keyBase64) === 'match') return;

    const useHash = entries.some((e) => e.hashed !== null);
    const hostField = useHash ? hashHostName(name) : name;
    const separator = text === '' || text.endsWith('\n') ? '' : '\n';
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await fs.appendFile(this.file, `${separator}${hostField} ${keyType} ${keyBase64}\n`, { mode: 0o600 });
  }

  private async readText(): Promise<string> {
    try {
      return await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }
}
