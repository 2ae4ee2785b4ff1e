/**
 * `scripts/fleet`: start, stop and list test fleets by hand.
 *   up --name N --count C [--kind sshd|systemd] [--internal]
 *   down --name N
 *   ls
 */
import { Command, InvalidArgumentError, Option } from 'commander';

import { listFleets, startFleet, stopFleet, type FleetInfo, type FleetKind } from './index';

function parseCount(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count > 200)
    throw new InvalidArgumentError('expected a whole number from 0 to 200');
  return count;
}

function printFleet(fleet: FleetInfo): void {
  console.log(`fleet ${fleet.name}: ${fleet.dir} (network ${fleet.network})`);
  for (const h of fleet.hosts) {
    console.log(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${h.kind.padEnd(7)} ${h.container}`);
  }
  console.log(`inventory:   ${fleet.inventoryFile}`);
  console.log(`known_hosts: ${fleet.knownHostsFile}`);
  const first = fleet.hosts[0];
  if (first === undefined) return;
  const ssh = `ssh -i ${fleet.privateKeyFile} -o UserKnownHostsFile=${fleet.knownHostsFile}`;
  console.log(`try: ${ssh} -o StrictHostKeyChecking=yes ${first.user}@${first.address} hostname`);
}

async function printList(baseDir: string | undefined): Promise<void> {
  const fleets = await listFleets(baseDir === undefined ? {} : { baseDir });
  if (fleets.length === 0) console.log('no fleets');
  for (const f of fleets) {
    const hosts = f.hosts.map((h) => `${h.name}(${h.state})`).join(' ') || 'no containers';
    console.log(`${f.name.padEnd(16)} ${hosts}${f.dir === undefined ? '  [no directory]' : ''}`);
  }
}

function program(): Command {
  const cli = new Command('fleet').description('test fleets of SSH hosts in local containers');
  const baseDir = new Option('--base-dir <dir>', 'where fleet directories live (default .rollbook/fleets)');

  cli
    .command('up')
    .description('start a fleet, or complete one that exists')
    .requiredOption('--name <name>', 'fleet name')
    .requiredOption('--count <n>', 'number of hosts', parseCount)
    .addOption(new Option('--kind <kind>', 'host kind').choices(['sshd', 'systemd']).default('sshd'))
    .option('--internal', 'no route to the outside (docker network --internal)', false)
    .option('--prefix <prefix>', 'host name prefix', 'h')
    .addOption(baseDir)
    .action(
      async (o: {
        name: string;
        count: number;
        kind: FleetKind;
        internal: boolean;
        prefix: string;
        baseDir?: string;
      }) => {
        const { prefix, ...rest } = o;
        printFleet(await startFleet({ ...rest, hostPrefix: prefix }));
      },
    );

  cli
    .command('down')
    .description("remove a fleet's containers, volumes, network and directory")
    .requiredOption('--name <name>', 'fleet name')
    .addOption(baseDir)
    .action(async (o: { name: string; baseDir?: string }) => {
      await stopFleet(o.name, o.baseDir === undefined ? {} : { baseDir: o.baseDir });
      console.log(`fleet ${o.name} removed`);
    });

  cli
    .command('ls')
    .description('list fleets and the state of their hosts')
    .addOption(baseDir)
    .action(async (o: { baseDir?: string }) => printList(o.baseDir));

  return cli;
}

// `scripts/fleet ls | head` closes stdout early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

program()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(`fleet: error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
