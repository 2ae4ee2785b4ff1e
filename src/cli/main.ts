/**
 * The `rollbook` command line, for operators and for CI jobs such as Jenkins.
 * Exit codes are in ./errors.ts.
 */
import type { Client } from '@temporalio/client';
import { Command, Option } from 'commander';
import { CliError, EXIT } from './errors';
import { factsTable, runFacts } from './facts';
import { readInventory } from './inventory';
import {
  approveRollout,
  rolloutStatus,
  runRollout,
  steerRollout,
  type RolloutCommandOptions,
} from './rollout';
import { connectClient, type TemporalOptions } from './temporal';

function temporalOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--address <host:port>', 'Temporal frontend')
        .env('TEMPORAL_ADDRESS')
        .default('127.0.0.1:7233'),
    )
    .addOption(
      new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'),
    )
    .addOption(
      new Option('--task-queue <name>', 'worker task queue').env('ROLLBOOK_TASK_QUEUE').default('rollbook'),
    );
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

async function withClient(opts: TemporalOptions, fn: (client: Client) => Promise<number>): Promise<number> {
  const { client, close } = await connectClient(opts);
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function rolloutOptions(command: Command): Command {
  return temporalOptions(command)
    .option('-i, --inventory <file>', 'inventory file (rollbook YAML/JSON, Ansible INI or YAML)')
    .option('--input <file>', 'the whole workflow input as JSON, as the Temporal UI takes it')
    .option('-l, --limit <pattern>', 'Ansible-style host pattern', 'all')
    .option('-c, --chapters <list>', 'comma-separated chapters, in order (mirror,docker)')
    .option(
      '--set <chapter.key=value>',
      'a chapter parameter; repeatable; @file reads the value',
      collect,
      [],
    )
    .option('--waves <size>', 'wave size: a count, a percentage, or a JSON ramp such as [1,5,"25%"]')
    .option('--max-in-flight <n>', 'hosts running at once')
    .option(
      '--failure-threshold <n>',
      'failed hosts tolerated (count or percentage); exceeding it stops the rollout',
    )
    .option('--approval', 'wait for an approval before every wave after the first', false)
    .option('--approvers <list>', 'who may approve (comma-separated)')
    .option(
      '--accept-new-host-keys',
      'record the key of a host seen for the first time (default: refuse)',
      false,
    )
    .option('--id <workflowId>', 'workflow id (default: rollout-<timestamp>)')
    .option('--junit <file>', 'write a JUnit XML report (one case per host and step)');
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('rollbook')
    .description('Durable Docker runbook rollouts over SSH')
    .exitOverride();
  temporalOptions(program.command('facts'))
    .description('gather OS, kernel, architecture, init system and Docker presence on each host')
    .requiredOption('-i, --inventory <file>', 'inventory file (rollbook YAML/JSON, Ansible INI or YAML)')
    .option('-l, --limit <pattern>', 'Ansible-style host pattern', 'all')
    .option(
      '--accept-new-host-keys',
      'record the key of a host seen for the first time (default: refuse)',
      false,
    )
    .option('--id <workflowId>', 'workflow id (default: facts-<timestamp>)')
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: FactsOptions) => setExit(await factsCommand(opts)));
  const run = program.command('run').description('start a workflow');
  rolloutOptions(run.command('rollout'))
    .description('roll chapters out across the selected hosts')
    .option('--wait', 'wait for the end, streaming progress; the exit code reflects the hosts', false)
    .action(async (opts: RolloutCommandOptions) =>
      setExit(await withClient(opts, (c) => runRollout(c, opts, false))),
    );
  rolloutOptions(program.command('plan'))
    .description('check mode: probe every host and print the diffs a rollout would apply, changing nothing')
    .action(async (opts: RolloutCommandOptions) =>
      setExit(await withClient(opts, (c) => runRollout(c, { ...opts, wait: true }, true))),
    );
  temporalOptions(program.command('status').argument('<id>', 'rollout workflow id'))
    .description("print a rollout's progress")
    .action(async (id: string, opts: TemporalOptions) =>
      setExit(await withClient(opts, (c) => rolloutStatus(c, id))),
    );
  temporalOptions(program.command('approve').argument('<id>', 'rollout workflow id'))
    .description('approve the wave that is waiting')
    .requiredOption('--wave <n>', 'the wave being approved')
    .requiredOption('--approver <name>', 'who approves')
    .option('--comment <text>', 'recorded with the approval')
    .action(
      async (id: string, opts: TemporalOptions & { wave: string; approver: string; comment?: string }) =>
        setExit(await withClient(opts, (c) => approveRollout(c, id, opts))),
    );
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    temporalOptions(program.command(action).argument('<id>', 'rollout workflow id'))
      .description(
        `${action} a running rollout${action === 'cancel' ? ' (hosts in flight stop their current command)' : ''}`,
      )
      .action(async (id: string, opts: TemporalOptions) =>
        setExit(await withClient(opts, (c) => steerRollout(c, id, action))),
      );
  }
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
    return commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version'
      ? EXIT.ok
      : EXIT.invalidInput;
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
