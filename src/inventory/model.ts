/**
 * rollbook's in-memory inventory: what every loader (rollbook YAML/JSON, Ansible
 * INI, Ansible YAML) produces and what host selection and the SSH layer consume.
 */

/**
 * How to authenticate to a host. Secrets are referred to by name only: the
 * worker resolves the name, so no key or password ever enters Temporal.
 */
export type Credential =
  /** A private key file readable by the worker (OpenSSH or PEM format). */
  | { type: 'key-file'; path: string; passphraseSecret?: string }
  /** The ssh-agent at `socket`, or at the worker's `SSH_AUTH_SOCK` when omitted. */
  | { type: 'agent'; socket?: string }
  /** A named secret holding either a private key (PEM/OpenSSH) or a password. */
  | { type: 'secret'; name: string };

export interface InventoryHost {
  /** Inventory name, unique in the inventory; used in workflow ids and reports. */
  name: string;
  /** DNS name or IP address to connect to; defaults to `name`. */
  address: string;
  /** SSH port; default 22. */
  port: number;
  /** Remote user; default `root`. */
  user: string;
  /** How to authenticate; absent means the worker's default credential. */
  credential?: Credential;
  /** Variables after merging group vars (parents first) and host vars. */
  vars: Record<string, unknown>;
  /** Every group the host belongs to, directly or through `children`, plus `all`. */
  groups: string[];
}

export interface InventoryGroup {
  name: string;
  /** Hosts listed directly in this group. */
  hosts: string[];
  /** Child groups, whose hosts are members of this group too. */
  children: string[];
  vars: Record<string, unknown>;
}

export interface Inventory {
  hosts: Record<string, InventoryHost>;
  groups: Record<string, InventoryGroup>;
}

/** An inventory read by a loader, with what the loader skipped and why. */
export interface LoadedInventory extends Inventory {
  /**
   * Settings the loader ignored (an `ansible_password`, an Ansible Vault value),
   * one line each naming the file and line. Never contains a secret value.
   */
  warnings: string[];
}
