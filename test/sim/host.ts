/**
 * One simulated host: an in-process ssh2 Server on its own loopback address that
 * answers like the recorded host. Exec commands are looked up by their text
 * (inside SshPool's wrapper, normalized); SFTP serves the recorded files,
 * read-only. Anything unrecorded fails loudly: a command exits 127 with
 * `sim: unrecorded command: …` on stderr, a file operation gets an SFTP failure,
 * and each lands in `stats.unrecorded`. Like OpenSSH, a connection may hold at
 * most `maxSessions` sessions (exec and SFTP alike); the next one is refused.
 */
import type { AddressInfo } from 'node:net';
import { Server, utils } from 'ssh2';
import type { AuthContext, Connection, ServerChannel, SFTPWrapper, Session } from 'ssh2';

import { escapeControl } from '../../src/ssh/errors';
import {
  denormalizeText,
  normalizeText,
  replayKey,
  sha256Hex,
  type HostIdentity,
  type RecordedCommand,
  type RecordedFile,
  type Recording,
} from './recording';
import { exitTrailer, unwrapCommand, type WireCommand } from './wire';

const { STATUS_CODE } = utils.sftp;

/** Replay tables built once per recording and shared by every host. */
export interface Replay {
  commands: Map<string, RecordedCommand>;
  files: Map<string, RecordedFile>;
}

export function replayOf(recording: Recording): Replay {
  return {
    commands: new Map(recording.commands.map((c) => [replayKey(c.command, c.stdinSha256), c])),
    files: new Map(recording.files.map((f) => [f.path, f])),
  };
}

export interface SimHostOptions extends HostIdentity {
  port: number;
  /** The host's private key (OpenSSH format). */
  hostKey: string;
  /** The one client public key accepted, as an OpenSSH line or parsed. */
  authorizedKey: ReturnType<typeof utils.parseKey>;
  user: string;
  replay: Replay;
  /** Sessions open at once per connection; default 10, OpenSSH's MaxSessions. */
  maxSessions?: number;
  /** Delay before a command's answer, in ms (`undefined` for an unrecorded command); default none. */
  latency?: (command: RecordedCommand | undefined) => number;
}

export interface SimHostStats {
  connections: number;
  /** Exec requests answered, recorded or not. */
  commands: number;
  /** Times each recorded command (by normalized text) was run. */
  byCommand: Map<string, number>;
  sftpSessions: number;
  fileReads: number;
  /** What the recording does not cover, one line each. */
  unrecorded: string[];
  peakSessions: number;
  refusedSessions: number;
}

export interface SimHost extends HostIdentity {
  port: number;
  /** `ssh-ed25519 AAAA…` of the host key. */
  publicKey: string;
  stats: SimHostStats;
  close(): Promise<void>;
}

/** How much of an unrecorded command a message shows. */
const SHOWN_CHARS = 300;

export async function startSimHost(opts: SimHostOptions): Promise<SimHost> {
  const parsed = utils.parseKey(opts.hostKey);
  if (parsed instanceof Error) throw parsed;
  const stats: SimHostStats = {
    connections: 0,
    commands: 0,
    byCommand: new Map(),
    sftpSessions: 0,
    fileReads: 0,
    unrecorded: [],
    peakSessions: 0,
    refusedSessions: 0,
  };
  const clients = new Set<Connection>();
  const server = new Server({ hostKeys: [opts.hostKey] }, (client) => {
    stats.connections++;
    clients.add(client);
    // Answers are small and immediate: without this, Nagle and delayed ACKs add ~40 ms to each.
    (client as Connection & { setNoDelay(on: boolean): void }).setNoDelay(true);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => authenticate(ctx, opts));
    client.on('ready', () => serveConnection(client, opts, stats));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);

  return {
    host: opts.host,
    address: opts.address,
    port: (server.address() as AddressInfo).port,
    publicKey: `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        clients.forEach((c) => c.end());
        server.close(() => resolve());
      }),
  };
}

function authenticate(ctx: AuthContext, opts: SimHostOptions): void {
  const key = opts.authorizedKey;
  if (ctx.method !== 'publickey' || ctx.username !== opts.user || key instanceof Error) {
    return ctx.reject(['publickey']);
  }
  if (!key.getPublicSSH().equals(ctx.key.data)) return ctx.reject(['publickey']);
  // Without a signature the client only asks whether the key would do.
  if (ctx.signature && ctx.blob && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
    return ctx.reject(['publickey']);
  }
  ctx.accept();
}

function serveConnection(client: Connection, opts: SimHostOptions, stats: SimHostStats): void {
  let open = 0;
  client.on('session', (accept, reject) => {
    if (open >= (opts.maxSessions ?? 10)) {
      stats.refusedSessions++;
      return reject();
    }
    open++;
    stats.peakSessions = Math.max(stats.peakSessions, open);
    const session = accept();
    session.once('close', () => open--);
    serveSession(session, opts, stats);
  });
  client.on('openssh.streamlocal', (_accept, reject, info) => {
    stats.unrecorded.push(`streamlocal ${info.socketPath} (Docker API calls are not recorded)`);
    reject();
  });
  client.on('tcpip', (_accept, reject, info) => {
    stats.unrecorded.push(`direct-tcpip ${info.destIP}:${info.destPort}`);
    reject();
  });
}

function serveSession(session: Session, opts: SimHostOptions, stats: SimHostStats): void {
  session.on('exec', (accept, _reject, info) => {
    stats.commands++;
    const wire = unwrapCommand(info.command);
    const channel = accept();
    channel.on('error', () => undefined);
    readStdin(channel, wire.stdinBytes, (stdin) => answer(channel, wire, stdin, opts, stats));
  });
  session.on('sftp', (accept) => {
    stats.sftpSessions++;
    serveSftp(accept(), opts, stats);
  });
  for (const request of ['pty', 'shell', 'subsystem', 'x11', 'auth-agent'] as const) {
    session.on(request, (_accept: unknown, reject: (() => void) | undefined) => {
      stats.unrecorded.push(`session request ${request}`);
      reject?.();
    });
  }
  // `env` asks for no reply and signals mean nothing to a replayed answer.
  session.on('env', (_accept, reject) => reject?.());
  session.on('signal', (_accept, reject) => reject?.());
}

/** Collects the first `bytes` of stdin, as the pool's wrapper does; the rest of the channel's input is ignored. */
function readStdin(channel: ServerChannel, bytes: number, done: (stdin: Buffer | undefined) => void): void {
  if (bytes === 0) return done(undefined);
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size < bytes) return;
    channel.removeListener('data', onData);
    done(Buffer.concat(chunks).subarray(0, bytes));
  };
  channel.on('data', onData);
}

function answer(
  channel: ServerChannel,
  wire: WireCommand,
  stdin: Buffer | undefined,
  opts: SimHostOptions,
  stats: SimHostStats,
): void {
  const { command } = wire;
  const key = normalizeText(replayKey(command, stdin && sha256Hex(stdin)), opts);
  const recorded = opts.replay.commands.get(key);
  const reply = () => {
    if (!recorded) {
      const shown = escapeControl(command).replace(/\n/g, '\\n').slice(0, SHOWN_CHARS);
      stats.unrecorded.push(`command: ${shown}`);
      channel.stderr.write(`sim: unrecorded command: ${shown}\n`);
      return finish(channel, wire, 127);
    }
    stats.byCommand.set(recorded.command, (stats.byCommand.get(recorded.command) ?? 0) + 1);
    if (recorded.stdout) channel.write(denormalizeText(recorded.stdout, opts));
    if (recorded.stderr) channel.stderr.write(denormalizeText(recorded.stderr, opts));
    finish(channel, wire, recorded.exitCode);
  };
  const delay = opts.latency?.(recorded) ?? 0;
  if (delay > 0) setTimeout(reply, delay);
  else reply();
}

/** Ends the command as the pool's wrapper and sshd do: the stderr trailer, the exit status, then EOF and close. */
function finish(channel: ServerChannel, wire: WireCommand, exitCode: number | null): void {
  // A recorded null exit status (the channel closed without one) is replayed as just that.
  if (exitCode === null) return void channel.end();
  if (wire.marker !== null) channel.stderr.write(exitTrailer(wire.marker, exitCode));
  channel.exit(exitCode);
  channel.end();
}

interface OpenFile {
  content: Buffer;
  file: RecordedFile;
}

/** Read-only SFTP over the recorded files: open, fstat, read, close, stat and lstat. */
function serveSftp(sftp: SFTPWrapper, opts: SimHostOptions, stats: SimHostStats): void {
  const handles = new Map<number, OpenFile>();
  let next = 0;
  const unrecorded = (id: number, what: string) => {
    stats.unrecorded.push(`sftp ${what}`);
    sftp.status(id, STATUS_CODE.FAILURE, `sim: unrecorded sftp ${what}`);
  };
  const handleOf = (raw: Buffer) => handles.get(raw.length === 4 ? raw.readUInt32BE(0) : -1);
  const attrsOf = (file: RecordedFile, size: number) => ({
    mode: file.mode,
    uid: file.uid,
    gid: file.gid,
    size,
    atime: 0,
    mtime: 0,
  });
  const lookup = (path: string) => opts.replay.files.get(normalizeText(path, opts));

  sftp.on('OPEN', (id, filename, flags) => {
    if (utils.sftp.flagsToString(flags) !== 'r') return unrecorded(id, `open for writing ${filename}`);
    const file = lookup(filename);
    if (!file) return unrecorded(id, `read ${filename}`);
    if (file.contentBase64 === null) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    stats.fileReads++;
    const text = Buffer.from(file.contentBase64, 'base64').toString('utf8');
    const raw = Buffer.alloc(4);
    raw.writeUInt32BE(++next);
    handles.set(next, { file, content: Buffer.from(denormalizeText(text, opts), 'utf8') });
    sftp.handle(id, raw);
  });
  sftp.on('FSTAT', (id, raw) => {
    const open = handleOf(raw);
    if (!open) return sftp.status(id, STATUS_CODE.FAILURE, 'bad handle');
    sftp.attrs(id, attrsOf(open.file, open.content.length));
  });
  sftp.on('READ', (id, raw, offset, length) => {
    const open = handleOf(raw);
    if (!open) return sftp.status(id, STATUS_CODE.FAILURE, 'bad handle');
    if (offset >= open.content.length) return sftp.status(id, STATUS_CODE.EOF);
    sftp.data(id, open.content.subarray(offset, offset + length));
  });
  sftp.on('CLOSE', (id, raw) => {
    if (!handleOf(raw)) return sftp.status(id, STATUS_CODE.FAILURE, 'bad handle');
    handles.delete(raw.readUInt32BE(0));
    sftp.status(id, STATUS_CODE.OK);
  });
  const stat = (id: number, path: string) => {
    const file = lookup(path);
    if (!file) return unrecorded(id, `stat ${path}`);
    if (file.contentBase64 === null) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    const size = Buffer.from(
      denormalizeText(Buffer.from(file.contentBase64, 'base64').toString('utf8'), opts),
    ).length;
    sftp.attrs(id, attrsOf(file, size));
  };
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  for (const op of [
    'WRITE',
    'SETSTAT',
    'FSETSTAT',
    'REMOVE',
    'RENAME',
    'MKDIR',
    'RMDIR',
    'OPENDIR',
  ] as const) {
    sftp.on(op, (id: number, target: unknown) => unrecorded(id, `${op.toLowerCase()} ${describe(target)}`));
  }
}

function describe(target: unknown): string {
  return typeof target === 'string' ? target : Buffer.isBuffer(target) ? 'handle' : '';
}
