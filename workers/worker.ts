/**
 * Builds a rollbook worker: the workflows bundle, the activities and the SSH
 * pools they share. Used by the worker process, the demo and the tests.
 */
import path from 'node:path';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { STATE_DIR } from '../src/paths';
import { SshPool } from '../src/ssh';
import type { HostKeyPolicy } from '../src/target';
import { dirImageSource } from './images';

export const DEFAULT_TASK_QUEUE = 'rollbook';

export interface RollbookWorkerOptions {
  /** Temporal frontend, `host:port`; default `127.0.0.1:7233`. */
  address?: string;
  /** Default `default`. */
  namespace?: string;
  /** Default {@link DEFAULT_TASK_QUEUE}. */
  taskQueue?: string;
  /** OpenSSH known_hosts file used to verify every host; `accept-new` runs append to it. */
  knownHostsFile: string;
  /** A prebuilt workflow bundle (tests build one per file to save the bundling time). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Directory of image tars that chapters copy onto hosts; default `<state>/images`. */
  imagesDir?: string;
  /** Worker-wide cap on concurrently running activities; default 100. */
  maxConcurrentActivities?: number;
}

export interface RollbookWorker {
  worker: Worker;
  /** Closes the SSH pools and the Temporal connection once the worker has stopped. */
  close: () => Promise<void>;
}

export const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');

export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

export async function createRollbookWorker(opts: RollbookWorkerOptions): Promise<RollbookWorker> {
  const pools = new Map<HostKeyPolicy, SshPool>();
  const ssh = (policy: HostKeyPolicy): SshPool => {
    let pool = pools.get(policy);
    if (!pool) {
      pool = new SshPool({ knownHostsFile: opts.knownHostsFile, hostKeyPolicy: policy });
      pools.set(policy, pool);
    }
    return pool;
  };

  const connection = await NativeConnection.connect({ address: opts.address ?? '127.0.0.1:7233' });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({
      ssh,
      images: dirImageSource(opts.imagesDir ?? path.join(STATE_DIR, 'images')),
    }),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 100,
  });
  return {
    worker,
    close: async () => {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      await connection.close();
    },
  };
}
