/** The shapes of a test fleet, as startFleet returns them and fleet.json stores them. */

/**
 * `sshd`: sshd is PID 1; starts in about a second.
 * `systemd`: systemd is PID 1 and starts sshd; the container may run dockerd
 * (Docker-in-Docker options and a volume for /var/lib/docker).
 */
export type FleetKind = 'sshd' | 'systemd';

export interface FleetHost {
  /** Inventory name and the container's hostname, e.g. `h1`. */
  name: string;
  /** Fixed IPv4 address on the fleet network; it survives a stop and start. */
  address: string;
  port: number;
  user: string;
  /** Docker container name, `rollbook-<fleet>-<host>`. */
  container: string;
  kind: FleetKind;
}

export interface FleetInfo {
  name: string;
  /** `<baseDir>/<name>`: the key pair, known_hosts, inventory.yaml and fleet.json. */
  dir: string;
  /** Docker network name, `rollbook-<name>`. */
  network: string;
  /** Sorted by name, numbers in natural order (h2 before h10). */
  hosts: FleetHost[];
  privateKeyFile: string;
  publicKeyFile: string;
  /** OpenSSH known_hosts with each host's ed25519 key, written when the host started. */
  knownHostsFile: string;
  /** rollbook inventory listing every host, in group `fleet`. */
  inventoryFile: string;
}

export interface StartFleetOptions {
  /** Fleet name: 1-32 lowercase letters, digits and '-'. Part of container and network names. */
  name: string;
  /** Hosts `<hostPrefix>1` to `<hostPrefix><count>` exist afterwards; existing extra hosts stay. */
  count: number;
  /** Kind of the hosts this call creates; default 'sshd'. */
  kind?: FleetKind;
  /**
   * Make the network `--internal`: hosts reach each other and this machine, but
   * not the outside (no apt). Default false. Fixed when the network is created.
   */
  internal?: boolean;
  /** Where fleet directories live; default `<repo>/.rollbook/fleets`. */
  baseDir?: string;
  /** Prefix of generated host names; default 'h'. */
  hostPrefix?: string;
  /** How long to wait for each host's sshd, in milliseconds; default 60000. */
  readyTimeoutMs?: number;
}

export type ResolvedStartFleetOptions = Required<StartFleetOptions>;

/** Options of the calls that act on an existing fleet by name. */
export interface FleetLocation {
  /** Where fleet directories live; default `<repo>/.rollbook/fleets`. */
  baseDir?: string;
}
