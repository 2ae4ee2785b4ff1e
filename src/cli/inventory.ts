/**
 * The CLI reads inventory files (any supported format) on the operator's machine
 * and sends the selected inventory to the workflow inline, in rollbook's format.
 */
import { loadInventory, selectHosts } from '../inventory';
import type { Inventory } from '../inventory/model';
import { CliError, EXIT } from './errors';

export interface InventoryDocument {
  hosts: Record<string, Record<string, unknown>>;
  groups: Record<string, { hosts: string[]; children: string[] }>;
}

/** Writes a resolved inventory back as a rollbook document; host vars are already merged. */
export function toDocument(inventory: Inventory): InventoryDocument {
  const hosts: InventoryDocument['hosts'] = {};
  for (const host of Object.values(inventory.hosts)) {
    hosts[host.name] = {
      address: host.address,
      port: host.port,
      user: host.user,
      ...(host.credential ? { credential: host.credential } : {}),
      vars: host.vars,
    };
  }
  const groups: InventoryDocument['groups'] = {};
  for (const group of Object.values(inventory.groups)) {
    if (group.name === 'all' || group.name === 'ungrouped') continue;
    groups[group.name] = { hosts: group.hosts, children: group.children };
  }
  return { hosts, groups };
}

function problemsOf(err: unknown): string {
  const problems = (err as { problems?: unknown }).problems;
  if (Array.isArray(problems) && problems.length > 0) return problems.map(String).join('\n');
  return (err as Error).message;
}

/** Loads and checks the inventory and the pattern before anything is started. */
export async function readInventory(
  file: string,
  limit: string,
): Promise<{ document: InventoryDocument; hosts: string[] }> {
  let inventory: Inventory;
  try {
    inventory = await loadInventory(file);
  } catch (err) {
    throw new CliError(problemsOf(err), EXIT.invalidInput);
  }
  try {
    const hosts = selectHosts(inventory, limit).map((h) => h.name);
    return { document: toDocument(inventory), hosts };
  } catch (err) {
    throw new CliError(
      problemsOf(err),
      EXIT.invalidInput,
      `check the pattern against: rollbook hosts --inventory ${file}`,
    );
  }
}
