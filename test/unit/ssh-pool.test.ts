import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'ssh2';

import { envSecretResolver } from '../../src/secrets';
import {
  AuthenticationFailedError,
  CommandFailedError,
  CommandInterruptedError,
  CommandTimeoutError,
  fingerprintSha256,
  HostKeyMismatchError,
  HostUnreachableError,
  KnownHostsFile,
  SshPool,
  UnknownHostKeyError,
} from '../../src/ssh';
import type { SshPoolOptions, SshTarget } from '../../src/ssh';
import { hostKeyAlgorithms } from '../../src/ssh/connection';
import { splitTrailer } from '../../src/ssh/exec';
import { generateKey, startTestServer } from './ssh-test-server';
import type { TestServer, TestServerOptions } from './ssh-test-server';

const clientKey = generateKey();
let dir: string;
let keyFile: string;
const pools: SshPool[] = [];
const servers: TestServer[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-ssh-pool-'));
  keyFile = path.join(dir, 'id_ed25519');
  await fs.writeFile(keyFile, clientKey.private, { mode: 0o600 });
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function server(opts: TestServerOptions = {}): Promise<TestServer> {
  const s = await startTestServer({ authorizedKey: clientKey.public, ...opts });
  servers.push(s);
  return s;
}

async function knownHostsFor(s: TestServer, name = `kh-${s.port}`): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, `[127.0.0.1]:${s.port} ${s.hostKey.keyType} ${s.hostKey.key}\n`);
  return file;
}

function pool(opts: SshPoolOptions): SshPool {
  const p = new SshPool({ keepaliveIntervalMs: 1000, ...opts });
  pools.push(p);
  return p;
}

function target(s: TestServer, extra: Partial<SshTarget> = {}): SshTarget {
  const credential = { type: 'key-file', path: keyFile } as const;
  return { host: 'web-1', address: '127.0.0.1', port: s.port, user: 'root', credential, ...extra };
}

async function pooled(opts: TestServerOptions = {}, poolOpts: Partial<SshPoolOptions> = {}) {
  const s = await server(opts);
  const p = pool({ knownHostsFile: await knownHostsFor(s), ...poolOpts });
  return { s, p, t: target(s) };
}

/** Local processes whose command line contains `needle` (the test server runs commands here). */
function processesMatching(needle: string): string[] {
  const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(needle) && !line.includes('ps -eo'));
}

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('SshPool.exec and run', () => {
  it('returns exit code, stdout and stderr, and exec does not throw on failure', async () => {
    const { p, t } = await pooled();
    const result = await p.exec(t, 'echo out; echo err >&2; exit 3');
    expect(result).toMatchObject({
      exitCode: 3,
      signal: null,
      stdout: 'out\n',
      stderr: 'err\n',
      truncated: false,
    });
    expect(result.command).toBe('echo out; echo err >&2; exit 3');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('run rejects a non-zero exit with CommandFailedError carrying command, code and stderr tail', async () => {
    const { p, t } = await pooled();
    const failure = await p.run(t, 'echo "no such unit" >&2; exit 5').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandFailedError);
    const err = failure as CommandFailedError;
    expect(err).toMatchObject({ host: 'web-1', exitCode: 5, signal: null, retryable: false });
    expect(err.stderrTail).toBe('no such unit\n');
    expect(err.message).toMatch(/^command exited 5 on web-1: echo .*: no such unit$/);
  });

  it('feeds stdin to the command, then EOF; without stdin the command sees EOF at once', async () => {
    const { p, t } = await pooled();
    expect((await p.run(t, 'cat', { stdin: 'line one\nline two' })).stdout).toBe('line one\nline two');
    expect((await p.run(t, 'cat; echo after')).stdout).toBe('after\n');
  });

  it('streams output to onOutput and keeps only the tail beyond maxOutputBytes', async () => {
    const { p, t } = await pooled();
    let streamed = 0;
    const command = "head -c 300000 /dev/zero | tr '\\0' a; printf END; printf tail-err >&2";
    const result = await p.run(t, command, {
      maxOutputBytes: 1000,
      onOutput: (chunk, stream) => {
        if (stream === 'stdout') streamed += chunk.length;
      },
    });
    expect(streamed).toBe(300003);
    expect(result.stdout).toHaveLength(1000);
    expect(result.stdout.endsWith('aaaEND')).toBe(true);
    expect(result.stderr).toBe('tail-err');
    expect(result.truncated).toBe(true);
  });

  it('shares one connection among concurrent first calls and later ones', async () => {
    const { s, p, t } = await pooled();
    await Promise.all([p.run(t, 'true'), p.run(t, 'true'), p.run(t, 'true')]);
    await p.run(t, 'true');
    expect(s.connections).toBe(1);
    expect(p.connectionCount()).toBe(1);
  });
});

describe('a channel closed without an exit status', () => {
  it('takes the exit code from the wrapper trailer and keeps it out of stderr', async () => {
    const { p, t } = await pooled({ omitExitStatus: true });
    const seen: string[] = [];
    const result = await p.exec(t, 'echo err >&2; exit 3', { onOutput: (chunk) => seen.push(chunk) });
    expect(result).toMatchObject({ exitCode: 3, signal: null, stderr: 'err\n' });
    expect(seen.join('')).toBe('err\n');
  });

  it('is a retryable CommandInterruptedError when the command died before saying how it ended', async () => {
    const { p, t } = await pooled({ omitExitStatus: true });
    const failure = await p.exec(t, 'kill -KILL $PPID; sleep 1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(CommandInterruptedError);
    expect(failure).toMatchObject({ retryable: true, host: t.host });
  });
});

describe('splitTrailer', () => {
  it('splits only the last marker line and leaves look-alikes in the output', () => {
    const marker = 'rollbook-exit-0123456789abcdef=';
    expect(splitTrailer(`a\nrollbook-exit-ffff=1\n\n${marker}7\n`, marker)).toEqual({
      stderr: 'a\nrollbook-exit-ffff=1\n',
      code: 7,
    });
    expect(splitTrailer('no trailer\n', marker)).toEqual({ stderr: 'no trailer\n', code: null });
  });
});

describe('channel cap', () => {
  it('the test server refuses the eleventh concurrent session, as sshd does', async () => {
    const s = await server();
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port: s.port, username: 'root', privateKey: clientKey.private });
    });
    const opens = Array.from(
      { length: 11 },
      () =>
        new Promise<boolean>((resolve) => {
          client.exec('sleep 0.5', (err, ch) => {
            if (err) return resolve(false);
            ch.resume().stderr.resume();
            resolve(true);
          });
        }),
    );
    const results = await Promise.all(opens);
    client.end();
    expect(results.filter((ok) => !ok)).toHaveLength(1);
  });

  it('runs 20 concurrent commands with at most maxChannelsPerHost sessions open', async () => {
    const { s, p, t } = await pooled();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => p.run(t, `sleep 0.2; echo ${i}`)));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(s.peakSessions).toBe(6);
    expect(s.refusedSessions).toBe(0);
  });

  it('refuses a maxChannelsPerHost that sshd would exceed', () => {
    expect(() => new SshPool({ knownHostsFile: '/dev/null', maxChannelsPerHost: 10 })).toThrow(RangeError);
  });
});

describe('cancellation', () => {
  it('kills the remote command on abort even when the server ignores the signal request', async () => {
    const { s, p, t } = await pooled({ honourSignals: false });
    const controller = new AbortController();
    const running = p.exec(t, 'sleep 31.25; echo finished', { signal: controller.signal });
    expect(await eventually(() => processesMatching('sleep 31.25').length > 0)).toBe(true);

    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(s.signals).toEqual(['KILL']);
    expect(await eventually(() => processesMatching('sleep 31.25').length === 0)).toBe(true);
  });

  it('kills the remote command on timeout and rejects with a retryable CommandTimeoutError', async () => {
    const { p, t } = await pooled();
    const failure = await p.exec(t, 'sleep 32.5', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandTimeoutError);
    expect(failure).toMatchObject({ retryable: true, host: 'web-1' });
    expect(await eventually(() => processesMatching('sleep 32.5').length === 0)).toBe(true);
  });

  it('leaves processes a finished command put in the background running', async () => {
    const { p, t } = await pooled();
    const { stdout } = await p.run(t, 'sleep 33.75 >/dev/null 2>&1 & echo $!');
    await new Promise((r) => setTimeout(r, 300));
    expect(processesMatching('sleep 33.75')).toHaveLength(1);
    process.kill(Number(stdout.trim()));
  });
});

describe('connection loss', () => {
  it('reconnects when the server dropped the idle connection', async () => {
    const { s, p, t } = await pooled();
    await p.run(t, 'true');
    s.dropConnections();
    expect(await eventually(() => p.connectionCount() === 0)).toBe(true);
    expect((await p.run(t, 'echo again')).stdout).toBe('again\n');
    expect(s.connections).toBe(2);
  });

  it('reconnects once when the connection dies while a channel is being opened', async () => {
    const { s, p, t } = await pooled({ dropOnSession: 2 });
    await p.run(t, 'true');
    expect((await p.run(t, 'echo retried')).stdout).toBe('retried\n');
    expect(s.connections).toBe(2);
  });

  it('closes connections left idle for idleTimeoutMs', async () => {
    const { p, t } = await pooled({}, { idleTimeoutMs: 200 });
    await p.run(t, 'true');
    expect(p.connectionCount()).toBe(1);
    expect(await eventually(() => p.connectionCount() === 0, 2000)).toBe(true);
  });
});

describe('host keys and authentication', () => {
  it('refuses a changed host key with an error naming host, fingerprint and file', async () => {
    const s = await server();
    const file = path.join(dir, 'kh-changed');
    const other = generateKey().public.split(' ');
    await fs.writeFile(file, `[127.0.0.1]:${s.port} ${other[0]} ${other[1]}\n`);
    const p = pool({ knownHostsFile: file, hostKeyPolicy: 'accept-new' });

    const failure = await p.exec(target(s), 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(HostKeyMismatchError);
    const fingerprint = fingerprintSha256(Buffer.from(s.hostKey.key, 'base64'));
    const err = failure as HostKeyMismatchError;
    expect(err).toMatchObject({ host: 'web-1', fingerprint, retryable: false });
    expect(err.message).toContain(fingerprint);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/^host key changed: web-1 /);
    expect(s.commands).toEqual([]);
  });

  it('refuses an unknown host under strict, pointing at accept-new', async () => {
    const s = await server();
    const p = pool({ knownHostsFile: path.join(dir, 'kh-empty-strict') });
    const failure = await p.exec(target(s), 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UnknownHostKeyError);
    expect((failure as Error).message).toContain('accept-new');
  });

  it('records an unknown host under accept-new, once, in a 0600 file', async () => {
    const s = await server();
    const file = path.join(dir, 'kh-new', 'known_hosts');
    const p = pool({ knownHostsFile: file, hostKeyPolicy: 'accept-new' });
    await Promise.all([p.run(target(s), 'true'), p.run(target(s, { host: 'alias' }), 'true')]);

    const kh = new KnownHostsFile(file);
    expect(await kh.verify('127.0.0.1', s.port, s.hostKey.keyType, s.hostKey.key)).toBe('match');
    expect((await fs.readFile(file, 'utf8')).trim().split('\n')).toHaveLength(1);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('maps a rejected key to a non-retryable AuthenticationFailedError', async () => {
    const s = await server({ authorizedKey: generateKey().public });
    const p = pool({ knownHostsFile: await knownHostsFor(s) });
    const failure = await p.exec(target(s), 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AuthenticationFailedError);
    expect(failure).toMatchObject({ retryable: false, user: 'root' });
  });

  it('maps a refused connection to a retryable HostUnreachableError', async () => {
    const s = await server();
    const port = s.port;
    await s.close();
    const p = pool({ knownHostsFile: path.join(dir, 'none') });
    const failure = await p.exec(target(s, { port }), 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(HostUnreachableError);
    expect(failure).toMatchObject({ retryable: true, reason: 'connection refused' });
  });

  it('logs in with a password held in a named secret, never putting it in errors', async () => {
    const s = await server({ password: 'pa$$ word' });
    const secrets = envSecretResolver({ ROLLBOOK_SECRET_WEB_PW: 'pa$$ word', ROLLBOOK_SECRET_BAD: 'nope' });
    const p = pool({ knownHostsFile: await knownHostsFor(s), secrets });
    const ok = await p.run(target(s, { credential: { type: 'secret', name: 'web-pw' } }), 'echo in');
    expect(ok.stdout).toBe('in\n');

    // Another user means another pooled connection, so the bad password is really tried.
    const bad = target(s, { user: 'deploy', credential: { type: 'secret', name: 'bad' } });
    const failure = await p.run(bad, 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AuthenticationFailedError);
    expect((failure as Error).message).not.toContain('nope');
  });

  it('logs in through an ssh-agent holding the key', async () => {
    const s = await server();
    const socket = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      expect(
        await eventually(() => execFileSync('ls', [dir], { encoding: 'utf8' }).includes('agent.sock')),
      ).toBe(true);
      execFileSync('ssh-add', ['-q', keyFile], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'pipe',
      });
      const p = pool({ knownHostsFile: await knownHostsFor(s) });
      const result = await p.run(target(s, { credential: { type: 'agent', socket } }), 'echo agent');
      expect(result.stdout).toBe('agent\n');
    } finally {
      agent.kill();
    }
  });

  it('logs in with a private key held in a named secret', async () => {
    const s = await server();
    const secrets = envSecretResolver({ ROLLBOOK_SECRET_FLEET_KEY: clientKey.private });
    const p = pool({ knownHostsFile: await knownHostsFor(s), secrets });
    const result = await p.run(target(s, { credential: { type: 'secret', name: 'fleet-key' } }), 'echo key');
    expect(result.stdout).toBe('key\n');
  });
});

describe('host key algorithms', () => {
  it('puts the types recorded in known_hosts first, as ssh does', () => {
    expect(hostKeyAlgorithms([]).slice(0, 2)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(hostKeyAlgorithms(['ssh-rsa']).slice(0, 4)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
    expect(hostKeyAlgorithms(['ecdsa-sha2-nistp256', 'no-such-type'])[0]).toBe('ecdsa-sha2-nistp256');
  });
});

describe('files over SFTP', () => {
  it('writes atomically with the requested mode and reads the content back', async () => {
    const { p, t } = await pooled();
    const file = path.join(dir, 'daemon.json');
    await fs.writeFile(file, 'old');
    await fs.chmod(file, 0o600);

    await p.writeFile(t, file, '{"bip":"10.1.0.1/24"}\n', { mode: 0o640 });
    expect(await fs.readFile(file, 'utf8')).toBe('{"bip":"10.1.0.1/24"}\n');
    expect((await fs.stat(file)).mode & 0o7777).toBe(0o640);
    expect((await fs.readdir(dir)).filter((n) => n.includes('.rollbook-'))).toEqual([]);
    expect((await p.readFile(t, file))?.toString()).toBe('{"bip":"10.1.0.1/24"}\n');
  });

  it('keeps the mode of the file it replaces and returns null for a missing file', async () => {
    const { p, t } = await pooled();
    const file = path.join(dir, 'hosts');
    await fs.writeFile(file, 'a');
    await fs.chmod(file, 0o604);
    await p.writeFile(t, file, 'b');
    expect((await fs.stat(file)).mode & 0o7777).toBe(0o604);
    expect(await p.readFile(t, path.join(dir, 'absent'))).toBeNull();
  });

  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  asRoot('sets owner and group by name', async () => {
    const { p, t } = await pooled();
    const file = path.join(dir, 'owned');
    await p.writeFile(t, file, 'x', { owner: 'nobody', group: 'nogroup', mode: 0o600 });
    const st = await fs.stat(file);
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    expect(st.uid).toBe(uid);
    expect(st.gid).toBe(
      Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]),
    );
  });

  it('refuses relative and unnormalized paths', async () => {
    const { p, t } = await pooled();
    await expect(p.writeFile(t, 'etc/x', 'y')).rejects.toThrow('must be absolute');
    await expect(p.readFile(t, '/etc/../x')).rejects.toThrow('normalized');
  });
});

describe('Docker over the pooled connection', () => {
  let socketPath: string;
  let dockerd: http.Server;
  let requests = 0;

  beforeAll(async () => {
    socketPath = path.join(dir, 'docker.sock');
    dockerd = http.createServer((req, res) => {
      requests++;
      if (req.url?.endsWith('/_ping')) return res.end('OK');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Version: '99.0-test', ApiVersion: '1.99' }));
    });
    await new Promise<void>((resolve) => dockerd.listen(socketPath, resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => dockerd.close(resolve));
  });

  it('pings dockerd through a streamlocal channel without a new handshake per call', async () => {
    const { s, p, t } = await pooled({ dockerSocket: socketPath });
    const docker = p.docker(t);
    const before = requests;
    const pings = await Promise.all(Array.from({ length: 12 }, () => docker.ping()));
    expect(pings.map(String)).toEqual(Array.from({ length: 12 }, () => 'OK'));
    expect((await docker.version()).Version).toBe('99.0-test');
    expect(requests - before).toBe(13);
    expect(s.connections).toBe(1);
    expect(s.commands).toEqual([]);
  });

  it('falls back to docker system dial-stdio when streamlocal is refused', async () => {
    const { s, p, t } = await pooled({ dockerSocket: socketPath, refuseStreamlocal: true });
    expect(String(await p.docker(t).ping())).toBe('OK');
    expect(String(await p.docker(t).ping())).toBe('OK');
    expect(s.commands).toEqual(['docker system dial-stdio', 'docker system dial-stdio']);
  });
});
