import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  entryMatches,
  fingerprintSha256,
  hashHostName,
  keyTypeOfBlob,
  KnownHostsFile,
  knownHostsName,
  matchPattern,
  matchPatternList,
  parseKnownHosts,
} from '../../src/ssh/known-hosts';

let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-known-hosts-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh ed25519 public key from ssh-keygen: [type, base64]. */
function newKey(name: string): [string, string] {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  const [type = '', key = ''] = execFileSync('cat', [`${file}.pub`], { encoding: 'utf8' }).split(' ');
  return [type, key];
}

async function fileWith(name: string, text: string): Promise<KnownHostsFile> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return new KnownHostsFile(file);
}

const [typeA, keyA] = ((): [string, string] => {
  // Deterministic sample key for the pure tests.
  const blob = Buffer.concat([u32(11), Buffer.from('ssh-ed25519'), u32(32), Buffer.alloc(32, 7)]);
  return ['ssh-ed25519', blob.toString('base64')];
})();

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

describe('patterns', () => {
  it('matches * and ? like OpenSSH, case-insensitively through the parsed patterns', () => {
    expect(matchPattern('web-1.example.com', '*.example.com')).toBe(true);
    expect(matchPattern('example.com', '*.example.com')).toBe(false);
    expect(matchPattern('web-1', 'web-?')).toBe(true);
    expect(matchPattern('web-10', 'web-?')).toBe(false);
    expect(matchPattern('anything', '*')).toBe(true);
    expect(matchPattern('[10.0.0.5]:2222', '[10.0.0.*]:2222')).toBe(true);
    const [entry] = parseKnownHosts(`WEB-1.Example.COM ${typeA} ${keyA}`);
    expect(entryMatches(entry!, 'web-1.example.com')).toBe(true);
  });

  it('lets a matching negated pattern veto the whole line', () => {
    expect(matchPatternList('db-1', ['*', '!db-*'])).toBe(false);
    expect(matchPatternList('web-1', ['*', '!db-*'])).toBe(true);
    expect(matchPatternList('web-1', ['!db-*'])).toBe(false);
  });
});

describe('parseKnownHosts', () => {
  it('reads plain, bracketed, marked and commented lines and skips malformed ones', () => {
    const text = [
      '# comment',
      '',
      `web-1,10.0.0.1 ${typeA} ${keyA} root@web-1`,
      `[web-2]:2222 ${typeA} ${keyA}`,
      `@revoked * ${typeA} ${keyA}`,
      `@cert-authority *.example.com ${typeA} ${keyA}`,
      '@unknown-marker host ssh-ed25519 AAAA',
      'only-two-fields ssh-ed25519',
      `bad-key ${typeA} not*base64`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.patterns])).toEqual([
      [3, null, ['web-1', '10.0.0.1']],
      [4, null, ['[web-2]:2222']],
      [5, 'revoked', ['*']],
      [6, 'cert-authority', ['*.example.com']],
    ]);
  });

  it('names non-22 ports [host]:port', () => {
    expect(knownHostsName('Web-1', 22)).toBe('web-1');
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
  });
});

describe('hashed entries', () => {
  it('matches an entry hashed by hand with HMAC-SHA1 keyed by the salt', () => {
    const salt = Buffer.alloc(20, 0xab);
    const hash = createHmac('sha1', salt).update('[10.0.0.7]:2200').digest();
    const line = `|1|${salt.toString('base64')}|${hash.toString('base64')} ${typeA} ${keyA}`;
    const [entry] = parseKnownHosts(line);
    expect(entry?.hashed).not.toBeNull();
    expect(entryMatches(entry!, '[10.0.0.7]:2200')).toBe(true);
    expect(entryMatches(entry!, '10.0.0.7')).toBe(false);
    expect(hashHostName('[10.0.0.7]:2200', salt)).toBe(line.split(' ')[0]);
  });

  it('reads what ssh-keygen -H wrote, for port 22 and other ports', async () => {
    const [type, key] = newKey('hashed');
    const file = path.join(dir, 'hashed_known_hosts');
    await fs.writeFile(file, `db-1,10.0.0.2 ${type} ${key}\n[db-2]:2222 ${type} ${key}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'pipe' });
    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain('db-1');

    const kh = new KnownHostsFile(file);
    expect(await kh.verify('db-1', 22, type, key)).toBe('match');
    expect(await kh.verify('10.0.0.2', 22, type, key)).toBe('match');
    expect(await kh.verify('db-2', 2222, type, key)).toBe('match');
    expect(await kh.verify('db-2', 22, type, key)).toBe('unknown');
    expect(await kh.lookup('DB-1', 22)).toEqual([{ keyType: type, key }]);
  });
});

describe('KnownHostsFile.verify', () => {
  it('tells match, mismatch, unknown and revoked apart', async () => {
    const [type, key] = newKey('current');
    const [, other] = newKey('other');
    const [, revoked] = newKey('revoked');
    const kh = await fileWith(
      'verify',
      `web-1 ${type} ${key}\n[web-1]:2222 ${type} ${key}\n@revoked * ${type} ${revoked}\nweb-9 ${type} ${revoked}\n`,
    );
    expect(await kh.verify('web-1', 22, type, key)).toBe('match');
    expect(await kh.verify('web-1', 22, type, other)).toBe('mismatch');
    expect(await kh.verify('web-1', 2222, type, key)).toBe('match');
    expect(await kh.verify('web-2', 22, type, key)).toBe('unknown');
    expect(await kh.verify('web-9', 22, type, revoked)).toBe('revoked');
  });

  it('counts a known key of another type as a change', async () => {
    const kh = await fileWith('other-type', `web-1 ecdsa-sha2-nistp256 ${keyA}\n`);
    expect(await kh.verify('web-1', 22, typeA, keyA)).toBe('mismatch');
  });

  it('ignores @cert-authority lines, so such hosts are unknown', async () => {
    const kh = await fileWith('ca', `@cert-authority * ${typeA} ${keyA}\n`);
    expect(await kh.verify('web-1', 22, typeA, keyA)).toBe('unknown');
  });

  it('treats a missing file as empty', async () => {
    const kh = new KnownHostsFile(path.join(dir, 'does-not-exist'));
    expect(await kh.verify('web-1', 22, typeA, keyA)).toBe('unknown');
  });

  it('sees a key another tool wrote or replaced after an earlier read', async () => {
    const [type, key] = newKey('edited');
    const kh = await fileWith('edited', '');
    expect(await kh.verify('web-1', 22, type, key)).toBe('unknown');
    await fs.appendFile(kh.file, `web-1 ${type} ${key}\n`);
    expect(await kh.verify('web-1', 22, type, key)).toBe('match');
    await fs.writeFile(kh.file, `web-1 ${typeA} ${keyA}\n`);
    expect(await kh.verify('web-1', 22, type, key)).toBe('mismatch');
  });
});

describe('KnownHostsFile.append', () => {
  it('creates the file with mode 0600 and writes plain entries that ssh-keygen -F finds', async () => {
    const [type, key] = newKey('append-plain');
    const file = path.join(dir, 'sub', 'append-plain');
    const kh = new KnownHostsFile(file);
    await kh.append('web-1', 22, type, key);
    await kh.append('web-1', 2222, type, key);

    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(file, 'utf8')).toBe(`web-1 ${type} ${key}\n[web-1]:2222 ${type} ${key}\n`);
    const found = execFileSync('ssh-keygen', ['-F', '[web-1]:2222', '-f', file], { encoding: 'utf8' });
    expect(found).toContain(key);
  });

  it('hashes new entries when the file already uses hashing, in a form ssh-keygen -F finds', async () => {
    const [type, key] = newKey('append-hashed');
    const kh = await fileWith('append-hashed', `${hashHostName('old-host')} ${type} ${key}`);
    await kh.append('10.0.0.9', 2200, type, key);

    const text = await fs.readFile(kh.file, 'utf8');
    expect(text).not.toContain('10.0.0.9');
    expect(text.split('\n')[1]).toMatch(/^\|1\|/);
    const found = execFileSync('ssh-keygen', ['-F', '[10.0.0.9]:2200', '-f', kh.file], { encoding: 'utf8' });
    expect(found).toContain(key);
  });

  it('serializes concurrent appends and records each key once', async () => {
    const kh = new KnownHostsFile(path.join(dir, 'concurrent'));
    const keys = Array.from({ length: 20 }, (_, i) => newKey(`c${i}`));
    await Promise.all(
      keys.flatMap(([type, key], i) => [
        kh.append(`h${i}`, 22, type, key),
        kh.append(`h${i}`, 22, type, key),
      ]),
    );

    const lines = (await fs.readFile(kh.file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(20);
    for (const [i, [type, key]] of keys.entries())
      expect(await kh.verify(`h${i}`, 22, type, key)).toBe('match');
  });
});

describe('key helpers', () => {
  it('reads the key type from the blob and fingerprints it like ssh-keygen -l', () => {
    const [type, key] = newKey('fp');
    const blob = Buffer.from(key, 'base64');
    expect(keyTypeOfBlob(blob)).toBe(type);
    const listed = execFileSync('ssh-keygen', ['-l', '-f', path.join(dir, 'fp.pub')], { encoding: 'utf8' });
    expect(listed.split(' ')[1]).toBe(fingerprintSha256(blob));
  });
});
