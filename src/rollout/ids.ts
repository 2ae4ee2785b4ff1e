/** The id of a host's child workflow within a rollout. */
export function childWorkflowId(rolloutId: string, host: string): string {
  return `${rolloutId}--${host}`;
}
