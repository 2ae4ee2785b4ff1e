import { Client, Connection } from '@temporalio/client';
import { CliError, EXIT } from './errors';

export interface TemporalOptions {
  address: string;
  namespace: string;
  taskQueue: string;
}

export async function connectClient(
  opts: TemporalOptions,
): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: opts.address, connectTimeout: 5_000 });
    await connection.workflowService.getSystemInfo({});
  } catch (err) {
    throw new CliError(
      `Temporal is unreachable at ${opts.address}: ${(err as Error).message}`,
      EXIT.temporalUnreachable,
      'start it (scripts/temporal-server) or pass --address HOST:PORT',
    );
  }
  const client = new Client({ connection, namespace: opts.namespace });
  return { client, close: () => connection.close() };
}
