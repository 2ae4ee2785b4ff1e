/**
 * The `facts` workflow: gathers {@link HostFacts} on every selected host, one
 * child workflow per host, and reports each host's facts or failure.
 */
import {
  ApplicationFailure,
  executeChild,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
  ChildWorkflowFailure,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities';
import type { HostFacts } from '../src/facts';
import { inventoryFromDocument, selectHosts } from '../src/inventory/pure';
import { HOSTS_KEY, JOB_KEY, STATUS_KEY } from '../src/temporal/search-attributes';
import { targetOf, type HostKeyPolicy, type HostTarget } from '../src/target';
import { InputError, formatIssues } from '../src/validation';
import { mapLimit } from './concurrency';

const factsInputSchema = z
  .object({
    /** The inventory, inline, in rollbook's own format. */
    inventory: z.unknown(),
    /** Ansible-style host pattern; default `all`. */
    limit: z.string().default('all'),
    /** `accept-new` records unknown host keys on first contact; default `strict` refuses them. */
    hostKeyPolicy: z.enum(['strict', 'accept-new']).default('strict'),
    /** Hosts gathered at once; default 20. */
    maxParallel: z.number().int().min(1).max(500).default(20),
  })
  .strict();

export type FactsInput = z.input<typeof factsInputSchema>;

export type HostFactsOutcome =
  { host: string; status: 'ok'; facts: HostFacts } | { host: string; status: 'failed'; error: string };

export interface FactsReport {
  hosts: HostFactsOutcome[];
  ok: number;
  failed: number;
}

export interface HostFactsInput {
  target: HostTarget;
  hostKeyPolicy: HostKeyPolicy;
}

const { gatherFacts } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    maximumAttempts: 3,
  },
});

/** One host's facts; a child of {@link facts}. */
export async function hostFacts(input: HostFactsInput): Promise<HostFacts> {
  return gatherFacts(input);
}

function validate(input: unknown) {
  const parsed = factsInputSchema.safeParse(input);
  if (!parsed.success) return { problems: formatIssues(parsed.error) };
  try {
    const inventory = inventoryFromDocument(parsed.data.inventory, 'input.inventory');
    return { options: parsed.data, hosts: selectHosts(inventory, parsed.data.limit) };
  } catch (err) {
    const problems = (err as { problems?: string[] }).problems;
    return { problems: problems ?? [(err as Error).message] };
  }
}

function rejectInput(problems: string[]): never {
  const error = new InputError(problems);
  throw ApplicationFailure.nonRetryable(error.message, error.name, { problems });
}

function failureReason(err: unknown): string {
  if (err instanceof ChildWorkflowFailure && err.cause) {
    const inner = err.cause.cause;
    return inner instanceof Error ? inner.message : err.cause.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export async function facts(input: FactsInput): Promise<FactsReport> {
  const checked = validate(input);
  if (!checked.hosts) return rejectInput(checked.problems);
  const { options, hosts } = checked;

  upsertSearchAttributes([
    { key: JOB_KEY, value: 'facts' },
    { key: HOSTS_KEY, value: hosts.slice(0, 100).map((h) => h.name) },
    { key: STATUS_KEY, value: 'running' },
  ]);

  const parentId = workflowInfo().workflowId;
  const outcomes = await mapLimit(hosts, options.maxParallel, async (host): Promise<HostFactsOutcome> => {
    const args: [HostFactsInput] = [{ target: targetOf(host), hostKeyPolicy: options.hostKeyPolicy }];
    try {
      const result = await executeChild(hostFacts, { workflowId: `${parentId}--${host.name}`, args });
      return { host: host.name, status: 'ok', facts: result };
    } catch (err) {
      return { host: host.name, status: 'failed', error: failureReason(err) };
    }
  });

  const failed = outcomes.filter((o) => o.status === 'failed').length;
  upsertSearchAttributes([{ key: STATUS_KEY, value: failed ? 'failed' : 'succeeded' }]);
  return { hosts: outcomes, ok: outcomes.length - failed, failed };
}
