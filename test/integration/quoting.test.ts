/**
 * The quoting helper against a real remote shell: every hostile value reaches
 * the host as one literal argument, and none of them runs anything.
 */
import { shellCommand, shellQuote } from '../../src/shell/quote';
import { SshPool } from '../../src/ssh';
import { startFleet, stopFleet, type FleetInfo } from '../../src/fleet';
import { targetOf } from '../../src/target';
import { loadInventory } from '../../src/inventory';
import type { HostTarget } from '../../src/target';
import { HOSTILE_VALUES } from '../hostile-values';
import { uniqueName } from './harness';

describe('shell quoting on a fleet host', () => {
  const fleetName = uniqueName('quote');
  let fleet: FleetInfo;
  let pool: SshPool;
  let target: HostTarget;

  beforeAll(async () => {
    fleet = await startFleet({ name: fleetName, count: 1 });
    pool = new SshPool({ knownHostsFile: fleet.knownHostsFile });
    const inventory = await loadInventory(fleet.inventoryFile);
    target = targetOf(inventory.hosts.h1!);
  });

  afterAll(async () => {
    await pool?.close();
    await stopFleet(fleetName);
  });

  it.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v), v]))(
    '%s arrives as one literal argument',
    async (_, value) => {
      // One word per argument: the count and each argument, NUL-separated, read back exactly.
      const result = await pool.run(target, `sh -c 'printf "%s\\0" "$#" "$@"' rollbook ${shellQuote(value)}`);
      expect(result.stdout).toBe(`1\0${value}\0`);
    },
  );

  it('passes every hostile value at once as separate words of one command', async () => {
    const result = await pool.run(target, shellCommand(['printf', '%s\\0', ...HOSTILE_VALUES]));
    expect(result.stdout.split('\0').slice(0, -1)).toEqual([...HOSTILE_VALUES]);
  });

  it('ran none of the injected commands', async () => {
    const probe = await pool.exec(target, 'test -e /tmp/rollbook-pwned');
    expect(probe.exitCode).toBe(1);
  });
});
