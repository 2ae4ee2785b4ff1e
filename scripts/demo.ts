/**
 * rollbook's main job on embedded defaults: a local Temporal server with its Web
 * UI, a three-host fleet with no route outside and the offline package mirror as
 * its only source, a worker, then the facts workflow and a rollout of chapters 1
 * (mirror) and 2 (Docker) across the fleet. Run through `scripts/demo`, which
 * prepares the machine first.
 *
 *   --exit     stop the server and the worker when the job is done (default: keep the UI up until Ctrl-C)
 *   --hosts N  fleet size, default 3
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { factsTable, runFacts } from '../src/cli/facts';
import { readInventory } from '../src/cli/inventory';
import { runRollout } from '../src/cli/rollout';
import { connectClient } from '../src/cli/temporal';
import { startFleet } from '../src/fleet';
import { ensureHelloImage } from '../src/fleet/hello-image';
import { startMirror } from '../src/fleet/mirror';
import { STATE_DIR } from '../src/paths';
import { answers, startDevServer, type DevServer } from '../src/temporal/devserver';
import { createRollbookWorker } from '../workers/worker';

const ADDRESS = '127.0.0.1:7233';
const UI_URL = 'http://127.0.0.1:8233';
const TASK_QUEUE = 'rollbook-demo';
const FLEET = 'demo';

Runtime.install({ logger: new DefaultLogger('WARN') });

async function ensureServer(): Promise<DevServer | undefined> {
  if (await answers(ADDRESS)) {
    console.log(`Temporal: reusing the server at ${ADDRESS}`);
    return undefined;
  }
  const dbFile = path.join(STATE_DIR, 'demo', 'temporal.db');
  const server = await startDevServer({ port: 7233, uiPort: 8233, dbFile });
  console.log(`Temporal: started at ${server.address}, Web UI ${UI_URL} (state in ${dbFile})`);
  return server;
}

function link(workflowId: string): string {
  return `${UI_URL}/namespaces/default/workflows/${workflowId}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { exit: { type: 'boolean' }, hosts: { type: 'string' } } });
  const count = Number(values.hosts ?? 3);
  const server = await ensureServer();

  console.log(`fleet: ${count} systemd hosts on a network with no route outside`);
  const fleet = await startFleet({ name: FLEET, count, kind: 'systemd', internal: true });
  for (const host of fleet.hosts) console.log(`  ${host.name}  ${host.address}  (${host.container})`);
  const mirror = await startMirror({ network: fleet.network, name: FLEET });
  console.log(`mirror: ${mirror.url} (signing key ${mirror.fingerprint})`);
  await ensureHelloImage();
  const keyFile = path.join(fleet.dir, 'mirror.asc');
  writeFileSync(keyFile, mirror.armoredKey);

  const { worker, close: closeWorker } = await createRollbookWorker({
    address: ADDRESS,
    taskQueue: TASK_QUEUE,
    knownHostsFile: fleet.knownHostsFile,
  });
  const running = worker.run();
  const { client, close } = await connectClient({
    address: ADDRESS,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
  });

  const factsId = `demo-facts-${Date.now()}`;
  console.log(`\nfacts: ${link(factsId)}`);
  const { document } = await readInventory(fleet.inventoryFile, 'all');
  const report = await runFacts(client, {
    document,
    limit: 'all',
    acceptNewHostKeys: false,
    taskQueue: TASK_QUEUE,
    workflowId: factsId,
  });
  console.log(factsTable(report));

  const rolloutId = `demo-rollout-${Date.now()}`;
  console.log(`\nrollout of chapters mirror, docker: ${link(rolloutId)}`);
  const code = await runRollout(
    client,
    {
      address: ADDRESS,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      inventory: fleet.inventoryFile,
      limit: 'all',
      chapters: 'mirror,docker',
      set: [`mirror.url=${mirror.url}`, `mirror.signingKey=@${keyFile}`],
      waves: '[1,"100%"]',
      approval: false,
      acceptNewHostKeys: false,
      id: rolloutId,
      wait: true,
    },
    false,
  );
  await close();

  console.log(`\nTemporal Web UI: ${UI_URL} (filter with RollbookJob = "rollout", RollbookHosts = "h1")`);
  console.log(
    `again, as an operator would: bin/rollbook plan --inventory ${fleet.inventoryFile} --chapters mirror,docker \\`,
  );
  console.log(
    `  --set mirror.url=${mirror.url} --set mirror.signingKey=@${keyFile} --task-queue ${TASK_QUEUE}`,
  );
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
  process.exitCode = report.failed > 0 ? 1 : code;
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
