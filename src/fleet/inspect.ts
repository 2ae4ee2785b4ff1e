/** What docker knows about a fleet: its containers and network, read through `docker inspect`. */
import { z } from 'zod';

import { LocalCommandError } from './errors';
import { docker } from './process';
import type { FleetKind } from './types';

/** Labels on every container, network and volume of a fleet; teardown finds them by these. */
export const LABEL = {
  fleet: 'rollbook.fleet',
  host: 'rollbook.host',
  kind: 'rollbook.kind',
  /** Digest of the fleet's public key the container was started with. */
  key: 'rollbook.key',
} as const;

const labelsSchema = z.record(z.string(), z.string()).nullable();

const containerSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  State: z.object({ Running: z.boolean(), Status: z.string() }),
  Config: z.object({ Labels: labelsSchema }),
  NetworkSettings: z.object({
    Networks: z
      .record(
        z.string(),
        z.object({
          IPAddress: z.string(),
          IPAMConfig: z.object({ IPv4Address: z.string().optional() }).nullable().optional(),
        }),
      )
      .nullable(),
  }),
});

const networkSchema = z.object({
  Name: z.string(),
  Internal: z.boolean(),
  Labels: labelsSchema,
  IPAM: z.object({
    Config: z.array(z.object({ Subnet: z.string().optional(), Gateway: z.string().optional() })).nullable(),
  }),
});

export interface FleetContainer {
  id: string;
  container: string;
  host: string;
  kind: FleetKind | undefined;
  keyId: string | undefined;
  running: boolean;
  /** The fixed address on `network`, or undefined when the container is not on it. */
  address: string | undefined;
}

export interface NetworkState {
  name: string;
  internal: boolean;
  fleet: string | undefined;
  subnet: string | undefined;
  gateway: string | undefined;
}

export function labelFilter(fleet: string): string {
  return `label=${LABEL.fleet}=${fleet}`;
}

/** Every container of the fleet, running or not. */
export async function listFleetContainers(fleet: string, network: string): Promise<FleetContainer[]> {
  const ids = (await docker(['ps', '-aq', '--no-trunc', '--filter', labelFilter(fleet)])).split('\n');
  const present = ids.filter((id) => id !== '');
  if (present.length === 0) return [];
  const parsed = z.array(containerSchema).parse(JSON.parse(await docker(['inspect', ...present])));
  return parsed.map((c) => toFleetContainer(c, network));
}

function toFleetContainer(c: z.infer<typeof containerSchema>, network: string): FleetContainer {
  const labels = c.Config.Labels ?? {};
  const endpoint = c.NetworkSettings.Networks?.[network];
  const kind = labels[LABEL.kind];
  return {
    id: c.Id,
    container: c.Name.replace(/^\//, ''),
    host: labels[LABEL.host] ?? '',
    kind: kind === 'sshd' || kind === 'systemd' ? kind : undefined,
    keyId: labels[LABEL.key],
    running: c.State.Running,
    address: endpoint?.IPAMConfig?.IPv4Address || undefined,
  };
}

/** The network, or undefined when docker has none of that name. */
export async function inspectNetwork(name: string): Promise<NetworkState | undefined> {
  let output: string;
  try {
    output = await docker(['network', 'inspect', name], { target: name });
  } catch (error) {
    if (error instanceof LocalCommandError && /no such network|not found/i.test(error.stderrTail)) {
      return undefined;
    }
    throw error;
  }
  const [net] = z.array(networkSchema).parse(JSON.parse(output));
  if (net === undefined) return undefined;
  const config = net.IPAM.Config?.[0];
  return {
    name: net.Name,
    internal: net.Internal,
    fleet: net.Labels?.[LABEL.fleet],
    subnet: config?.Subnet,
    gateway: config?.Gateway,
  };
}
