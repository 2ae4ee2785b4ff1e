import type { SshPool } from '../src/ssh';
import type { HostKeyPolicy } from '../src/target';

/** What activities need from their worker; tests hand in real pools aimed at their own fleet. */
export interface ActivityDeps {
  /** The worker's pool for a host-key policy (one pool per policy, sharing one known_hosts file). */
  ssh(policy: HostKeyPolicy): SshPool;
}
