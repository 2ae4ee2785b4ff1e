import { FACTS_SCRIPT, parseFacts, type HostFacts } from '../src/facts';
import type { HostKeyPolicy, HostTarget } from '../src/target';
import type { ActivityDeps } from './deps';
import { atBoundary } from './boundary';

export interface GatherFactsInput {
  target: HostTarget;
  hostKeyPolicy: HostKeyPolicy;
}

export function createFactsActivities(deps: ActivityDeps) {
  return {
    /** Reads OS, kernel, architecture, init system and Docker presence; changes nothing. */
    gatherFacts: atBoundary(async (input: GatherFactsInput): Promise<HostFacts> => {
      const pool = deps.ssh(input.hostKeyPolicy);
      const result = await pool.run(input.target, FACTS_SCRIPT, { timeoutMs: 60_000 });
      return parseFacts(result.stdout);
    }),
  };
}
