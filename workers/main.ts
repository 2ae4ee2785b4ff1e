/**
 * The rollbook worker process. Configuration comes from the environment:
 *   TEMPORAL_ADDRESS      Temporal frontend, default 127.0.0.1:7233
 *   TEMPORAL_NAMESPACE    default `default`
 *   ROLLBOOK_TASK_QUEUE   default `rollbook`
 *   ROLLBOOK_KNOWN_HOSTS  known_hosts file, default ~/.ssh/known_hosts
 *   ROLLBOOK_IMAGES_DIR   image tars that chapters copy onto hosts, default .rollbook/images
 * Secrets are resolved here, by name: ROLLBOOK_SECRET_<NAME> or files in ROLLBOOK_SECRETS_DIR.
 */
import os from 'node:os';
import path from 'node:path';
import { createRollbookWorker } from './worker';

async function main(): Promise<void> {
  const { worker, close } = await createRollbookWorker({
    address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.ROLLBOOK_TASK_QUEUE ?? 'rollbook',
    knownHostsFile: process.env.ROLLBOOK_KNOWN_HOSTS ?? path.join(os.homedir(), '.ssh', 'known_hosts'),
    ...(process.env.ROLLBOOK_IMAGES_DIR ? { imagesDir: process.env.ROLLBOOK_IMAGES_DIR } : {}),
  });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.run();
  } finally {
    await close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
