/**
 * Many short commands at the channel cap against real OpenSSH: sshd sometimes
 * closes a fast command's channel without its exit status, and refuses a channel
 * while it reaps closed sessions. Neither may surface as a failed command.
 */
import { startFleet, stopFleet, type FleetInfo } from '../../src/fleet';
import { loadInventory } from '../../src/inventory';
import { SshPool } from '../../src/ssh';
import { targetOf, type HostTarget } from '../../src/target';
import { uniqueName } from './harness';

const fleetName = uniqueName('burst').slice(0, 32);
let fleet: FleetInfo;
let pool: SshPool;
let target: HostTarget;

beforeAll(async () => {
  fleet = await startFleet({ name: fleetName, count: 1 });
  pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
  target = targetOf((await loadInventory(fleet.inventoryFile)).hosts.h1!);
});

afterAll(async () => {
  await pool?.close();
  await stopFleet(fleetName);
});

it('runs 600 short commands six at a time, each with its exit status', async () => {
  const outcomes: string[] = [];
  for (let round = 0; round < 100; round++) {
    const batch = Array.from({ length: 6 }, (_, i) =>
      pool.exec(target, `mkdir -p /tmp/burst; exit ${i}`).then(
        (r) => (r.exitCode === i ? 'ok' : `exit ${r.exitCode}`),
        (err: Error) => err.message,
      ),
    );
    outcomes.push(...(await Promise.all(batch)));
  }
  expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
  expect(pool.connectionCount()).toBe(1);
});
