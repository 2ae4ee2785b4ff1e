/** rollbook's SSH layer: pooled connections, known_hosts, typed errors, Docker over SSH. */

export { SshPool, resolvePoolOptions } from './pool';
export type {
  ExecOptions,
  ExecResult,
  HostKeyPolicy,
  ResolvedSshPoolOptions,
  SshPoolOptions,
  SshTarget,
  WriteFileOptions,
} from './pool';
export {
  AuthenticationFailedError,
  ChannelOpenError,
  CommandInterruptedError,
  CommandFailedError,
  CommandTimeoutError,
  FileTransferError,
  HandshakeFailedError,
  HostKeyMismatchError,
  HostUnreachableError,
  SshError,
  STDERR_TAIL_BYTES,
  UnknownHostKeyError,
} from './errors';
export type { CommandFailure } from './errors';
export {
  KnownHostsFile,
  fingerprintSha256,
  hashHostName,
  knownHostsName,
  parseKnownHosts,
} from './known-hosts';
export type { HostKeyStatus, KnownHostEntry, KnownHostKey } from './known-hosts';
export { InvalidRemotePathError } from './sftp';
export { SshDockerAgent, DOCKER_SOCKET } from './docker';
