/** The test fleet: SSH hosts in local containers for rollbook's integration tests. */
export {
  addHost,
  clearAuditLog,
  containerName,
  defaultBaseDir,
  FLEET_IMAGES,
  loadFleet,
  networkName,
  readAuditEntries,
  readAuditLog,
  refreshKnownHosts,
  regenerateHostKey,
  startFleet,
  startHost,
  stopFleet,
  stopHost,
} from './fleet';
export { listFleets, type FleetSummary } from './list';
export { AUDIT_LOG, parseAuditLog, SFTP_SESSION, type AuditEntry } from './audit';
export {
  FleetConflictError,
  FleetHostNotReadyError,
  FleetImageMissingError,
  FleetNotFoundError,
  InvalidFleetNameError,
  LocalCommandError,
  UnknownFleetHostError,
} from './errors';
export type {
  FleetHost,
  FleetInfo,
  FleetKind,
  FleetLocation,
  ResolvedStartFleetOptions,
  StartFleetOptions,
} from './types';
