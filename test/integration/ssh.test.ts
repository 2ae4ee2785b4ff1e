/**
 * The SSH pool against real OpenSSH: fleet containers started by this file alone.
 * Independent of Temporal; host-side checks go through `docker exec`, not SSH.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { readAuditLog, regenerateHostKey, startFleet, stopFleet } from '../../src/fleet';
import type { FleetHost, FleetInfo } from '../../src/fleet';
import { shellCommand } from '../../src/shell/quote';
import {
  CommandFailedError,
  CommandTimeoutError,
  HostKeyMismatchError,
  KnownHostsFile,
  SshPool,
  UnknownHostKeyError,
} from '../../src/ssh';
import type { SshPoolOptions, SshTarget } from '../../src/ssh';

const run = promisify(execFile);
const fleetName = `ssh-it-${process.pid}-${Date.now().toString(36)}`.slice(0, 32);
let fleet: FleetInfo;
let tmp: string;
const pools: SshPool[] = [];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-ssh-it-'));
  fleet = await startFleet({ name: fleetName, count: 4 });
}, 180_000);

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await stopFleet(fleetName);
  await fs.rm(tmp, { recursive: true, force: true });
});

function host(name: string): FleetHost {
  const found = fleet.hosts.find((h) => h.name === name);
  if (!found) throw new Error(`no host ${name} in fleet ${fleet.name}`);
  return found;
}

function target(name: string): SshTarget {
  const h = host(name);
  return {
    host: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    credential: { type: 'key-file', path: fleet.privateKeyFile },
  };
}

function pool(opts: Partial<SshPoolOptions> = {}): SshPool {
  const p = new SshPool({ knownHostsFile: fleet.knownHostsFile, ...opts });
  pools.push(p);
  return p;
}

/** Runs argv in the host's container, bypassing SSH. */
async function onHost(name: string, argv: string[]): Promise<string> {
  const { stdout } = await run('docker', ['exec', host(name).container, ...argv]);
  return stdout;
}

async function remoteProcesses(name: string, needle: string): Promise<string[]> {
  const lines = (await onHost(name, ['ps', '-eo', 'args'])).split('\n');
  return lines.filter((line) => line.includes(needle));
}

/** Successful logins sshd logged for the container (LogLevel VERBOSE, to stderr). */
async function loginCount(name: string): Promise<number> {
  const { stdout, stderr } = await run('docker', ['logs', host(name).container]);
  return `${stdout}${stderr}`.split('\n').filter((l) => l.includes('Accepted publickey for root')).length;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('SshPool against OpenSSH', () => {
  it('runs commands on three hosts over one connection each', async () => {
    const p = pool();
    const names = ['h1', 'h2', 'h3'];
    const before = await Promise.all(names.map(loginCount));

    const rounds = await Promise.all(
      names.flatMap((name) =>
        Array.from({ length: 8 }, () => p.run(target(name), shellCommand(['hostname']))),
      ),
    );
    expect(rounds.map((r) => r.stdout.trim()).sort()).toEqual(
      names.flatMap((n) => Array.from({ length: 8 }, () => n)).sort(),
    );
    expect(p.connectionCount()).toBe(3);

    const failed = await p.exec(target('h1'), 'ls /nonexistent');
    expect(failed.exitCode).toBe(2);
    await expect(p.run(target('h2'), 'ls /nonexistent')).rejects.toBeInstanceOf(CommandFailedError);

    const after = await Promise.all(names.map(loginCount));
    expect(after.map((n, i) => n - (before[i] ?? 0))).toEqual([1, 1, 1]);
  });

  it('writes a file atomically with mode and owner and reads it back', async () => {
    const p = pool();
    const t = target('h1');
    const file = '/etc/rollbook-ssh-it.conf';
    await p.writeFile(t, file, 'first\n');
    await p.writeFile(t, file, 'second line with "quotes" and $dollar\n', {
      mode: 0o640,
      owner: 'nobody',
      group: 'nogroup',
    });

    expect((await onHost('h1', ['stat', '-c', '%a %U %G', file])).trim()).toBe('640 nobody nogroup');
    expect(await onHost('h1', ['cat', file])).toBe('second line with "quotes" and $dollar\n');
    expect((await p.readFile(t, file))?.toString()).toBe('second line with "quotes" and $dollar\n');
    expect(await p.readFile(t, '/etc/rollbook-absent')).toBeNull();
    expect(await onHost('h1', ['sh', '-c', 'ls -a /etc | grep -c rollbook- || true'])).toBe('1\n');
    // posix-rename@openssh.com did the rename: no `mv` ran.
    expect((await readAuditLog(fleet, 'h1')).filter((c) => c.includes(' mv '))).toEqual([]);
  });

  it('kills the remote command when the call is cancelled', async () => {
    const p = pool();
    const controller = new AbortController();
    const running = p.exec(target('h2'), 'sleep 30', { signal: controller.signal });
    expect(await eventually(async () => (await remoteProcesses('h2', 'sleep 30')).length > 0)).toBe(true);

    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(await eventually(async () => (await remoteProcesses('h2', 'sleep 30')).length === 0)).toBe(true);
  });

  it('kills the remote command on timeout', async () => {
    const p = pool();
    const failure = await p.exec(target('h2'), 'sleep 31', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandTimeoutError);
    expect(await eventually(async () => (await remoteProcesses('h2', 'sleep 31')).length === 0)).toBe(true);
  });

  it('kills a running command whose connection goes away, as when the worker dies', async () => {
    const p = pool();
    const running = p.exec(target('h3'), 'sleep 32; echo late').catch((e: unknown) => e);
    expect(await eventually(async () => (await remoteProcesses('h3', 'sleep 32')).length > 0)).toBe(true);

    await p.close();
    await running;
    expect(await eventually(async () => (await remoteProcesses('h3', 'sleep 32')).length === 0)).toBe(true);
  });

  it('refuses a host whose key changed since the last run, naming the host', async () => {
    const first = pool();
    await first.run(target('h4'), 'true');
    await first.close();

    await regenerateHostKey(fleet, 'h4');
    const second = pool({ hostKeyPolicy: 'accept-new' });
    const failure = await second.run(target('h4'), 'true').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(HostKeyMismatchError);
    const err = failure as HostKeyMismatchError;
    expect(err.host).toBe('h4');
    expect(err.message).toMatch(/^host key changed: h4 /);
    expect(err.message).toContain(err.fingerprint);
    expect(err.message).toContain(fleet.knownHostsFile);
  });

  it('refuses an unknown host under strict and records it under accept-new', async () => {
    const file = path.join(tmp, 'known_hosts');
    await fs.writeFile(file, '');
    const strict = pool({ knownHostsFile: file });
    await expect(strict.run(target('h1'), 'true')).rejects.toBeInstanceOf(UnknownHostKeyError);

    const acceptNew = pool({ knownHostsFile: file, hostKeyPolicy: 'accept-new' });
    await acceptNew.run(target('h1'), 'true');
    const [recorded] = await new KnownHostsFile(file).lookup(host('h1').address, host('h1').port);
    const [expected] = await new KnownHostsFile(fleet.knownHostsFile).lookup(
      host('h1').address,
      host('h1').port,
    );
    expect(recorded).toEqual(expected);
    await expect(pool({ knownHostsFile: file }).run(target('h1'), 'true')).resolves.toMatchObject({
      exitCode: 0,
    });
  });

  it('talks HTTP to /var/run/docker.sock through a streamlocal channel', async () => {
    // The fleet images have no dockerd; a stand-in answers the Engine API's ping.
    const server = [
      'import http.server, socketserver, os',
      "p = '/var/run/docker.sock'",
      'os.path.exists(p) and os.unlink(p)',
      'class H(http.server.BaseHTTPRequestHandler):',
      '    def do_GET(self):',
      "        body = b'OK'",
      '        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()',
      '        self.wfile.write(body)',
      '    def address_string(self): return "ssh"',
      'socketserver.UnixStreamServer.allow_reuse_address = True',
      'class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer): pass',
      'S(p, H).serve_forever()',
    ].join('\n');
    await run('docker', ['exec', '-d', host('h3').container, 'python3', '-c', server]);
    expect(
      await eventually(async () => (await onHost('h3', ['ls', '/var/run'])).includes('docker.sock')),
    ).toBe(true);

    const p = pool();
    const docker = p.docker(target('h3'));
    const pings = await Promise.all(Array.from({ length: 10 }, () => docker.ping()));
    expect(pings.map(String)).toEqual(Array.from({ length: 10 }, () => 'OK'));
    expect(p.connectionCount()).toBe(1);
    // Forwarding opens no session, so nothing reaches the audit log.
    expect((await readAuditLog(fleet, 'h3')).filter((c) => c.includes('dial-stdio'))).toEqual([]);
  });
});
