import type { ActivityDeps } from './deps';
import { createFactsActivities } from './facts';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createFactsActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
