/**
 * Search attributes rollbook sets on its workflows, so the Temporal UI can filter
 * runs by host, chapter and status. The dev server must register them at start
 * (see {@link searchAttributeFlags}); a production cluster registers them once
 * with `temporal operator search-attribute create`.
 *
 * This module is safe to import from workflow code.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const HOSTS_KEY = defineSearchAttributeKey('RollbookHosts', SearchAttributeType.KEYWORD_LIST);
export const CHAPTERS_KEY = defineSearchAttributeKey('RollbookChapters', SearchAttributeType.KEYWORD_LIST);
export const STATUS_KEY = defineSearchAttributeKey('RollbookStatus', SearchAttributeType.KEYWORD);
export const JOB_KEY = defineSearchAttributeKey('RollbookJob', SearchAttributeType.KEYWORD);

/** Every key above with the type name the Temporal CLI's `--search-attribute` flag expects. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; cliType: string }> = [
  { name: HOSTS_KEY.name, cliType: 'KeywordList' },
  { name: CHAPTERS_KEY.name, cliType: 'KeywordList' },
  { name: STATUS_KEY.name, cliType: 'Keyword' },
  { name: JOB_KEY.name, cliType: 'Keyword' },
];

export function searchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap(({ name, cliType }) => ['--search-attribute', `${name}=${cliType}`]);
}
