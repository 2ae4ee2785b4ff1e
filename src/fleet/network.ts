/** The fleet's docker network: a bridge with a subnet docker chose, written down explicitly. */
import { FleetConflictError, LocalCommandError } from './errors';
import { inspectNetwork, LABEL, type NetworkState } from './inspect';
import { docker } from './process';

/** A network the fleet can give fixed addresses on. */
export interface FleetNetwork {
  name: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}

const CREATE_ATTEMPTS = 3;

/** Reuses the fleet's network when it matches, creates it when missing. */
export async function ensureNetwork(fleet: string, name: string, internal: boolean): Promise<FleetNetwork> {
  const current = await inspectNetwork(name);
  if (current === undefined) return createNetwork(fleet, name, internal);
  return checkNetwork(fleet, current, internal);
}

/** The fleet's network as it is now; a conflict error when it is gone or not the fleet's. */
export async function existingNetwork(fleet: string, name: string): Promise<FleetNetwork> {
  const current = await inspectNetwork(name);
  if (current === undefined) throw new FleetConflictError(fleet, `its network ${name} is gone`);
  return checkNetwork(fleet, current, current.internal);
}

function checkNetwork(fleet: string, net: NetworkState, internal: boolean): FleetNetwork {
  if (net.fleet !== fleet) {
    throw new FleetConflictError(
      fleet,
      `network ${net.name} exists but is not labelled ${LABEL.fleet}=${fleet}`,
    );
  }
  if (net.internal !== internal) {
    throw new FleetConflictError(fleet, `network ${net.name} has internal=${net.internal}, not ${internal}`);
  }
  if (net.subnet === undefined || net.gateway === undefined) {
    throw new FleetConflictError(fleet, `network ${net.name} has no fixed subnet and gateway`);
  }
  return { name: net.name, subnet: net.subnet, gateway: net.gateway, internal };
}

/**
 * docker honours `--ip` only on networks created with an explicit subnet, and
 * without fixed addresses two stopped containers can swap addresses when they
 * start again. So docker first picks a free subnet (it avoids the machine's own
 * routes), and the network is then re-created with that subnet spelled out.
 */
async function createNetwork(fleet: string, name: string, internal: boolean): Promise<FleetNetwork> {
  const flags = [
    '--driver',
    'bridge',
    '--label',
    `${LABEL.fleet}=${fleet}`,
    ...(internal ? ['--internal'] : []),
  ];
  for (let attempt = 1; ; attempt++) {
    const { subnet, gateway } = await probeSubnet(name, flags);
    try {
      await docker(['network', 'create', ...flags, '--subnet', subnet, '--gateway', gateway, name], {
        target: name,
      });
      return { name, subnet, gateway, internal };
    } catch (error) {
      // Another network may have taken the subnet in between; probe again.
      const overlap = error instanceof LocalCommandError && /overlap/i.test(error.stderrTail);
      if (!overlap || attempt >= CREATE_ATTEMPTS) throw error;
    }
  }
}

async function probeSubnet(
  name: string,
  flags: readonly string[],
): Promise<{ subnet: string; gateway: string }> {
  await docker(['network', 'create', ...flags, name], { target: name });
  try {
    const probed = await inspectNetwork(name);
    if (probed?.subnet === undefined || probed.gateway === undefined) {
      throw new Error(`docker created network ${name} without an IPv4 subnet and gateway`);
    }
    return { subnet: probed.subnet, gateway: probed.gateway };
  } finally {
    await docker(['network', 'rm', name], { target: name });
  }
}
