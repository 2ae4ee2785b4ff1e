/** Which fleets exist on this machine: by docker label, and by directory. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { defaultBaseDir } from './fleet';
import { FILES } from './files';
import { LABEL } from './inspect';
import { docker } from './process';
import type { FleetLocation } from './types';

export interface FleetSummary {
  name: string;
  /** The fleet directory, or undefined when only containers are left. */
  dir: string | undefined;
  /** Containers by host name, with docker's state (`running`, `exited`...). */
  hosts: Array<{ name: string; container: string; state: string }>;
}

/** Every fleet that has a container or a fleet directory, sorted by name. */
export async function listFleets(opts: FleetLocation = {}): Promise<FleetSummary[]> {
  const baseDir = opts.baseDir ?? defaultBaseDir();
  const fleets = new Map<string, FleetSummary>();
  const summary = (name: string): FleetSummary => {
    const found = fleets.get(name) ?? { name, dir: undefined, hosts: [] };
    fleets.set(name, found);
    return found;
  };

  for (const row of await containerRows()) {
    summary(row.fleet).hosts.push({ name: row.host, container: row.container, state: row.state });
  }
  for (const name of await fleetDirs(baseDir)) summary(name).dir = path.join(baseDir, name);

  const sorted = [...fleets.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const f of sorted) f.hosts.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return sorted;
}

async function containerRows(): Promise<
  Array<{ fleet: string; host: string; container: string; state: string }>
> {
  const format = `{{.Label "${LABEL.fleet}"}}\t{{.Label "${LABEL.host}"}}\t{{.Names}}\t{{.State}}`;
  const out = await docker(['ps', '-a', '--filter', `label=${LABEL.fleet}`, '--format', format]);
  return out
    .split('\n')
    .map((line) => line.split('\t'))
    .flatMap(([fleet, host, container, state]) =>
      fleet && host !== undefined && container && state ? [{ fleet, host, container, state }] : [],
    );
}

async function fleetDirs(baseDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(baseDir);
  } catch {
    return [];
  }
  const checks = entries.map(async (name) => {
    try {
      await fs.access(path.join(baseDir, name, FILES.info));
      return [name];
    } catch {
      return [];
    }
  });
  return (await Promise.all(checks)).flat();
}
