export { facts, hostFacts } from './facts';
