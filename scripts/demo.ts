/**
 * rollbook's main job on embedded defaults: a local Temporal server with its Web
 * UI, a three-host local fleet, a worker, and the facts workflow across the fleet.
 * Run through `scripts/demo`, which prepares the machine first.
 *
 *   --exit     stop the server and the worker when the job is done (default: keep the UI up until Ctrl-C)
 *   --hosts N  fleet size, default 3
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { factsTable, runFacts } from '../src/cli/facts';
import { readInventory } from '../src/cli/inventory';
import { connectClient } from '../src/cli/temporal';
import { startFleet } from '../src/fleet';
import { STATE_DIR } from '../src/paths';
import { answers, startDevServer, type DevServer } from '../src/temporal/devserver';
import { createRollbookWorker } from '../workers/worker';

const ADDRESS = '127.0.0.1:7233';
const UI_URL = 'http://127.0.0.1:8233';
const TASK_QUEUE = 'rollbook-demo';

async function ensureServer(): Promise<DevServer | undefined> {
  if (await answers(ADDRESS)) {
    console.log(`Temporal: reusing the server at ${ADDRESS}`);
    return undefined;
  }
  const dbFile = path.join(STATE_DIR, 'demo', 'temporal.db');
  const server = await startDevServer({ port: 7233, uiPort: 8233, dbFile });
  console.log(`Temporal: started at ${server.address} (state in ${dbFile}, log ${server.logFile})`);
  return server;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { exit: { type: 'boolean' }, hosts: { type: 'string' } } });
  const count = Number(values.hosts ?? 3);
  const server = await ensureServer();

  console.log(`fleet: starting ${count} hosts`);
  const fleet = await startFleet({ name: 'demo', count });
  for (const host of fleet.hosts) console.log(`  ${host.name}  ${host.address}  (${host.container})`);

  const { worker, close: closeWorker } = await createRollbookWorker({
    address: ADDRESS,
    taskQueue: TASK_QUEUE,
    knownHostsFile: fleet.knownHostsFile,
  });
  const running = worker.run();

  const { document } = await readInventory(fleet.inventoryFile, 'all');
  const { client, close } = await connectClient({
    address: ADDRESS,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
  });
  const workflowId = `demo-facts-${Date.now()}`;
  console.log(`workflow ${workflowId}: ${UI_URL}/namespaces/default/workflows/${workflowId}`);
  const report = await runFacts(client, {
    document,
    limit: 'all',
    acceptNewHostKeys: false,
    taskQueue: TASK_QUEUE,
    workflowId,
  });
  console.log(factsTable(report));
  await close();

  console.log(`\nTemporal Web UI: ${UI_URL}`);
  console.log(`inventory of the fleet: ${fleet.inventoryFile}`);
  console.log('try: bin/rollbook facts --inventory ' + fleet.inventoryFile + ' --task-queue ' + TASK_QUEUE);
  if (!values.exit) {
    console.log(
      'the worker and the UI stay up; Ctrl-C stops them (scripts/fleet down --name demo removes the hosts)',
    );
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  worker.shutdown();
  await running;
  await closeWorker();
  await server?.stop();
  process.exitCode = report.failed > 0 ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
