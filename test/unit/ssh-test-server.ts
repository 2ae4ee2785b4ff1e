/**
 * An in-process SSH server on 127.0.0.1 that behaves like sshd where the pool
 * cares: it runs exec commands with the local /bin/sh in a session of their own
 * (setsid), closes the command's stdin when the channel goes, refuses the
 * eleventh concurrent session (MaxSessions 10), serves SFTP from the local
 * filesystem, and forwards streamlocal channels to a socket of the test's choice.
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Server, utils } from 'ssh2';

import { generateEd25519 } from '../keys';
import type { AuthContext, AuthenticationType, Connection, ServerChannel, Session, SFTPWrapper } from 'ssh2';

const { STATUS_CODE } = utils.sftp;

export interface TestServerOptions {
  /** OpenSSH public key line of the client key to accept. */
  authorizedKey?: string;
  /** Password to accept. */
  password?: string;
  /** Deliver channel signal requests to the command's process group (as OpenSSH does). Default false. */
  honourSignals?: boolean;
  /** Sessions allowed open at once per connection. Default 10, like sshd's MaxSessions. */
  maxSessions?: number;
  /** Where streamlocal channels to /var/run/docker.sock go; refused when absent. */
  dockerSocket?: string;
  /** Refuse streamlocal even with a dockerSocket, to exercise `docker system dial-stdio`. */
  refuseStreamlocal?: boolean;
  /** Cut the connection instead of answering the Nth session request (counted over all connections), once. */
  dropOnSession?: number;
  /** Close exec channels without an exit-status message, as OpenSSH now and then does. */
  omitExitStatus?: boolean;
}

export interface TestServer {
  port: number;
  /** `ssh-ed25519 AAAA…` of the server's host key. */
  hostKey: { keyType: string; key: string };
  /** Connections accepted so far. */
  connections: number;
  /** Most sessions seen open at once on one connection. */
  peakSessions: number;
  /** Sessions refused for exceeding maxSessions. */
  refusedSessions: number;
  /** Signal requests received. */
  signals: string[];
  /** Commands received, as sent. */
  commands: string[];
  /** Ends every client connection (the server keeps listening). */
  dropConnections(): void;
  close(): Promise<void>;
}

export function generateKey(): { private: string; public: string } {
  return generateEd25519();
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const host = generateKey();
  const [keyType = '', key = ''] = host.public.split(' ');
  const clients = new Set<Connection>();
  const state = { connections: 0, peakSessions: 0, refusedSessions: 0, sessionRequests: 0 };
  const signals: string[] = [];
  const commands: string[] = [];

  const server = new Server({ hostKeys: [host.private] }, (client) => {
    state.connections++;
    clients.add(client);
    (client as Connection & { setNoDelay(on: boolean): void }).setNoDelay(true);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => authenticate(ctx, opts));
    client.on('ready', () => serveConnection(client, opts, state, { signals, commands }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    hostKey: { keyType, key },
    get connections() {
      return state.connections;
    },
    get peakSessions() {
      return state.peakSessions;
    },
    get refusedSessions() {
      return state.refusedSessions;
    },
    signals,
    commands,
    dropConnections: () => clients.forEach((c) => c.end()),
    close: () =>
      new Promise<void>((resolve) => {
        clients.forEach((c) => c.end());
        server.close(() => resolve());
      }),
  };
}

function authenticate(ctx: AuthContext, opts: TestServerOptions): void {
  const methods: AuthenticationType[] = ['publickey', 'password'];
  if (ctx.method === 'password' && opts.password !== undefined) {
    return ctx.password === opts.password ? ctx.accept() : ctx.reject(methods);
  }
  if (ctx.method === 'publickey' && opts.authorizedKey !== undefined) {
    const allowed = utils.parseKey(opts.authorizedKey);
    if (allowed instanceof Error || !allowed.getPublicSSH().equals(ctx.key.data)) return ctx.reject(methods);
    // Without a signature the client only asks whether the key would do.
    if (ctx.signature && ctx.blob && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
      return ctx.reject(methods);
    }
    return ctx.accept();
  }
  ctx.reject(methods);
}

interface Recorders {
  signals: string[];
  commands: string[];
}

function serveConnection(
  client: Connection,
  opts: TestServerOptions,
  state: { peakSessions: number; refusedSessions: number; sessionRequests: number },
  rec: Recorders,
): void {
  let open = 0;
  client.on('session', (accept, reject) => {
    if (++state.sessionRequests === opts.dropOnSession) return client.end();
    if (open >= (opts.maxSessions ?? 10)) {
      state.refusedSessions++;
      return reject();
    }
    open++;
    state.peakSessions = Math.max(state.peakSessions, open);
    const session = accept();
    session.once('close', () => open--);
    serveSession(session, opts, rec);
  });
  client.on('openssh.streamlocal', (accept, reject, info) => {
    if (!opts.dockerSocket || opts.refuseStreamlocal || info.socketPath !== '/var/run/docker.sock')
      return reject();
    pipeToSocket(accept(), opts.dockerSocket);
  });
}

function serveSession(session: Session, opts: TestServerOptions, rec: Recorders): void {
  let child: ChildProcess | null = null;
  session.on('signal', (_accept, _reject, info) => {
    rec.signals.push(info.name);
    if (opts.honourSignals && child?.pid) process.kill(-child.pid, `SIG${info.name}` as NodeJS.Signals);
  });
  session.on('exec', (accept, _reject, info) => {
    rec.commands.push(info.command);
    const channel = accept();
    if (info.command === 'docker system dial-stdio' && opts.dockerSocket)
      return pipeToSocket(channel, opts.dockerSocket);
    child = runCommand(channel, info.command, opts.omitExitStatus ?? false);
  });
  session.on('sftp', (accept) => serveSftp(accept()));
}

/** Like sshd: own session, stdin closed when the command exits or the channel goes. */
function runCommand(channel: ServerChannel, command: string, omitExitStatus: boolean): ChildProcess {
  const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  channel.pipe(child.stdin).on('error', () => undefined);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  channel.on('close', () => child.stdin.destroy());
  child.on('exit', () => child.stdin.destroy());
  child.on('close', (code, signal) => {
    if (omitExitStatus) channel.end();
    else if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  });
  return child;
}

function pipeToSocket(channel: ServerChannel, socketPath: string): void {
  const socket = net.connect(socketPath);
  socket.on('error', () => channel.close());
  channel.on('error', () => socket.destroy());
  channel.pipe(socket).pipe(channel);
}

/** Enough of an SFTP server for writeFile and readFile, over the local filesystem. */
function serveSftp(sftp: SFTPWrapper): void {
  const handles = new Map<number, fs.FileHandle>();
  let next = 0;
  const reply = (id: number, work: () => Promise<void>) => {
    work().catch((err: NodeJS.ErrnoException) => {
      sftp.status(id, err.code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : STATUS_CODE.FAILURE, err.message);
    });
  };
  const handleOf = (raw: Buffer) => {
    const fh = handles.get(raw.readUInt32BE(0));
    if (!fh) throw Object.assign(new Error('bad handle'), { code: 'EBADF' });
    return fh;
  };
  const toAttrs = (st: {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    atimeMs: number;
    mtimeMs: number;
  }) => ({
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  });

  sftp.on('OPEN', (id, filename, flags, attrs) =>
    reply(id, async () => {
      const fh = await fs.open(filename, utils.sftp.flagsToString(flags) ?? 'r', attrs.mode ?? 0o666);
      const raw = Buffer.alloc(4);
      raw.writeUInt32BE(++next);
      handles.set(next, fh);
      sftp.handle(id, raw);
    }),
  );
  sftp.on('WRITE', (id, raw, offset, data) =>
    reply(id, async () => {
      await handleOf(raw).write(data, 0, data.length, offset);
      sftp.status(id, STATUS_CODE.OK);
    }),
  );
  sftp.on('READ', (id, raw, offset, length) =>
    reply(id, async () => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handleOf(raw).read(buf, 0, length, offset);
      if (bytesRead === 0) return sftp.status(id, STATUS_CODE.EOF);
      sftp.data(id, buf.subarray(0, bytesRead));
    }),
  );
  sftp.on('FSTAT', (id, raw) => reply(id, async () => sftp.attrs(id, toAttrs(await handleOf(raw).stat()))));
  sftp.on('STAT', (id, path) => reply(id, async () => sftp.attrs(id, toAttrs(await fs.stat(path)))));
  sftp.on('LSTAT', (id, path) => reply(id, async () => sftp.attrs(id, toAttrs(await fs.lstat(path)))));
  sftp.on('CLOSE', (id, raw) =>
    reply(id, async () => {
      await handleOf(raw).close();
      handles.delete(raw.readUInt32BE(0));
      sftp.status(id, STATUS_CODE.OK);
    }),
  );
  sftp.on('SETSTAT', (id, path, attrs) =>
    reply(id, async () => {
      if (attrs.mode !== undefined) await fs.chmod(path, attrs.mode);
      if (attrs.uid !== undefined && attrs.gid !== undefined) await fs.chown(path, attrs.uid, attrs.gid);
      sftp.status(id, STATUS_CODE.OK);
    }),
  );
  sftp.on('REMOVE', (id, path) =>
    reply(id, async () => {
      await fs.unlink(path);
      sftp.status(id, STATUS_CODE.OK);
    }),
  );
}
