import { createChapterActivities, type ChapterDeps } from './chapters';
import { createFactsActivities } from './facts';

export type { ActivityDeps } from './deps';
export type { ChapterDeps } from './chapters';

export function createActivities(deps: ChapterDeps) {
  return {
    ...createFactsActivities(deps),
    ...createChapterActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
