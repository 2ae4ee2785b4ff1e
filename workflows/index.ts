export { facts, hostFacts } from './facts';
export { hostRunbook } from './host-runbook';
export { rollout } from './rollout';
