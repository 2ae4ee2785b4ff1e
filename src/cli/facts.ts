import Table from 'cli-table3';
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { FactsReport } from '../../workflows/facts';
import { CliError, EXIT } from './errors';
import type { InventoryDocument } from './inventory';

export interface FactsCommandInput {
  document: InventoryDocument;
  limit: string;
  acceptNewHostKeys: boolean;
  taskQueue: string;
  workflowId: string;
}

export async function runFacts(client: Client, input: FactsCommandInput): Promise<FactsReport> {
  const handle = await client.workflow.start('facts', {
    taskQueue: input.taskQueue,
    workflowId: input.workflowId,
    args: [
      {
        inventory: input.document,
        limit: input.limit,
        hostKeyPolicy: input.acceptNewHostKeys ? 'accept-new' : 'strict',
      },
    ],
    staticSummary: `facts on ${input.limit}`,
  });
  try {
    return (await handle.result()) as FactsReport;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause?.message) {
      throw new CliError(`facts ${input.workflowId} failed: ${err.cause.message}`, EXIT.invalidInput);
    }
    throw err;
  }
}

export function factsTable(report: FactsReport): string {
  // Colours only on a terminal: Jenkins logs and files get plain text.
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const table = new Table({ head: ['host', 'status', 'os', 'kernel', 'arch', 'init', 'docker'], ...style });
  for (const outcome of report.hosts) {
    if (outcome.status === 'failed') {
      table.push([outcome.host, 'failed', { colSpan: 5, content: outcome.error }]);
      continue;
    }
    const { facts } = outcome;
    const docker = facts.docker.installed
      ? `${facts.docker.clientVersion ?? '?'} (daemon ${facts.docker.serverVersion ?? 'not answering'})`
      : 'absent';
    table.push([
      outcome.host,
      'ok',
      facts.osName || facts.osId,
      facts.kernel,
      facts.arch,
      facts.init,
      docker,
    ]);
  }
  return table.toString();
}
