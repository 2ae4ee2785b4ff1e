/**
 * What a workflow hands an activity to reach a host: the inventory entry minus
 * its variables. It carries credential *references* only, never secret values,
 * so it is safe in workflow history.
 */
import type { Credential, InventoryHost } from './inventory/model';

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface HostTarget {
  /** Inventory name. */
  host: string;
  address: string;
  port: number;
  user: string;
  credential?: Credential;
}

export function targetOf(host: InventoryHost): HostTarget {
  return {
    host: host.name,
    address: host.address,
    port: host.port,
    user: host.user,
    ...(host.credential ? { credential: host.credential } : {}),
  };
}
