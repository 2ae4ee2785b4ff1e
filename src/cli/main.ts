/**
 * The `rollbook` command line, for operators and for CI jobs such as Jenkins.
 * Exit codes are in ./errors.ts.
 */
import { Command, Option } from 'commander';
import { CliError, EXIT } from './errors';
import { factsTable, runFacts } from './facts';
import { readInventory } from './inventory';
import { connectClient, type TemporalOptions } from './temporal';

function temporalOptions(command: Command): Command {
  return command
    .addOption(new Option('--address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS').default('127.0.0.1:7233'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'))
    .addOption(new Option('--task-queue <name>', 'worker task queue').env('ROLLBOOK_TASK_QUEUE').default('rollbook'));
}

interface FactsOptions extends TemporalOptions {
  inventory: string;
  limit: string;
  acceptNewHostKeys: boolean;
  json: boolean;
  id?: string;
}

async function factsCommand(opts: FactsOptions): Promise<number> {
  const { document } = await readInventory(opts.inventory, opts.limit);
  const { client, close } = await connectClient(opts);
  try {
    const workflowId = opts.id ?? `facts-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const report = await runFacts(client, { ...opts, document, workflowId });
    console.log(opts.json ? JSON.stringify(report, null, 2) : factsTable(report));
    return report.failed > 0 ? EXIT.hostsFailed : EXIT.ok;
  } finally {
    await close();
  }
}

async function hostsCommand(opts: { inventory: string; limit: string }): Promise<number> {
  const { hosts } = await readInventory(opts.inventory, opts.limit);
  console.log(hosts.join('\n'));
  return EXIT.ok;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('rollbook').description('Durable Docker runbook rollouts over SSH').exitOverride();
  temporalOptions(program.command('facts'))
    .description('gather OS, kernel, architecture, init system and Docker presence on each host')
    .requiredOption('-i, --inventory <file>', 'inventory file (rollbook YAML/JSON, Ansible INI or YAML)')
    .option('-l, --limit <pattern>', 'Ansible-style host pattern', 'all')
    .option('--accept-new-host-keys', 'record the key of a host seen for the first time (default: refuse)', false)
    .option('--id <workflowId>', 'workflow id (default: facts-<timestamp>)')
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: FactsOptions) => setExit(await factsCommand(opts)));
  program
    .command('hosts')
    .description('list the hosts a pattern selects')
    .requiredOption('-i, --inventory <file>', 'inventory file')
    .option('-l, --limit <pattern>', 'Ansible-style host pattern', 'all')
    .action(async (opts: { inventory: string; limit: string }) => setExit(await hostsCommand(opts)));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  const commanderCode = (err as { code?: string }).code;
  if (commanderCode?.startsWith('commander.')) {
    return commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' ? EXIT.ok : EXIT.invalidInput;
  }
  if (err instanceof CliError) {
    console.error(`rollbook: ${err.message}`);
    if (err.hint) console.error(`next: ${err.hint}`);
    return err.exitCode;
  }
  console.error(`rollbook: ${(err as Error).message}`);
  return EXIT.hostsFailed;
}

if (require.main === module) {
  main(process.argv).then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); }); // prettier-ignore
}
