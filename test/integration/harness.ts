/**
 * Shared pieces for integration tests: the run's Temporal server, a workflow
 * bundle built once per test file, and a worker on a task queue of the test's own.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflows, createRollbookWorker, type RollbookWorker } from '../../workers/worker';

// Worker lifecycle lines at INFO drown test output; warnings and errors still show.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed by an earlier test file in this process.
}

export function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address)
    throw new Error(
      'TEMPORAL_ADDRESS is unset: run integration tests through jest (globalSetup starts Temporal)',
    );
  return address;
}

/** Connects `@temporalio/testing` to the run's server; it never downloads or starts one. */
export async function connectTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

export async function startWorker(taskQueue: string, knownHostsFile: string): Promise<RollbookWorker> {
  return createRollbookWorker({
    address: temporalAddress(),
    taskQueue,
    knownHostsFile,
    workflowBundle: await workflowBundle(),
  });
}
