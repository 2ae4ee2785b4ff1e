/** Promise wrappers over the ssh2 SFTP calls the pool uses, with remote path checks. */

import * as posix from 'node:path/posix';
import { randomBytes } from 'node:crypto';
import type { SFTPWrapper, Stats } from 'ssh2';

/** ssh2's SFTP status for a missing file (SSH_FX_NO_SUCH_FILE). */
const NO_SUCH_FILE = 2;

export class InvalidRemotePathError extends Error {
  override readonly name = 'InvalidRemotePathError';

  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`invalid remote path ${JSON.stringify(path)}: ${reason}`);
  }
}

/** Remote paths must be absolute, normalized file paths: relative ones depend on the login directory. */
export function validateRemotePath(path: string): void {
  if (path.includes('\0')) throw new InvalidRemotePathError(path, 'it contains a NUL byte');
  if (!path.startsWith('/')) throw new InvalidRemotePathError(path, 'it must be absolute');
  if (path.endsWith('/')) throw new InvalidRemotePathError(path, 'it names a directory');
  if (posix.normalize(path) !== path) throw new InvalidRemotePathError(path, 'it must be normalized');
}

/** A hidden name next to `path`, so the final rename stays on one filesystem. */
export function tempPathFor(path: string): string {
  const suffix = randomBytes(6).toString('hex');
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.rollbook-${suffix}`);
}

export function isNoSuchFile(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === NO_SUCH_FILE;
}

function callback<T>(resolve: (value: T) => void, reject: (err: Error) => void) {
  return (err: Error | undefined | null, value: T) => (err ? reject(err) : resolve(value));
}

export function sftpStat(sftp: SFTPWrapper, path: string): Promise<Stats | null> {
  return new Promise<Stats>((resolve, reject) => sftp.stat(path, callback(resolve, reject))).catch((err) => {
    if (isNoSuchFile(err)) return null;
    throw err;
  });
}

export function sftpWriteNew(sftp: SFTPWrapper, path: string, content: Buffer, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // 'wx' fails if the name exists, so a stale temp file is never reused.
    sftp.writeFile(path, content, { mode, flag: 'wx' }, (err) => (err ? reject(err) : resolve()));
  });
}

export function sftpChmod(sftp: SFTPWrapper, path: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => sftp.chmod(path, mode, (err) => (err ? reject(err) : resolve())));
}

export function sftpChown(sftp: SFTPWrapper, path: string, uid: number, gid: number): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.chown(path, uid, gid, (err) => (err ? reject(err) : resolve())),
  );
}

export function sftpUnlink(sftp: SFTPWrapper, path: string): Promise<void> {
  return new Promise((resolve, reject) => sftp.unlink(path, (err) => (err ? reject(err) : resolve())));
}

/** Whether the server offers posix-rename@openssh.com (OpenSSH does; ssh2's server does not). */
export function hasPosixRename(sftp: SFTPWrapper): boolean {
  const extensions = (sftp as unknown as { _extensions?: Record<string, string> })._extensions;
  return extensions?.['posix-rename@openssh.com'] !== undefined;
}

/** rename(2) on the server: replaces `to` atomically. */
export function sftpPosixRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.ext_openssh_rename(from, to, (err) => (err ? reject(err) : resolve())),
  );
}

/** The file's content, or null when it does not exist. */
export function sftpRead(sftp: SFTPWrapper, path: string): Promise<Buffer | null> {
  return new Promise<Buffer>((resolve, reject) => sftp.readFile(path, callback(resolve, reject))).catch(
    (err) => {
      if (isNoSuchFile(err)) return null;
      throw err;
    },
  );
}
