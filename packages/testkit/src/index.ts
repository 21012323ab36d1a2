export { planOf, baseSpec, type PlanResult } from './plan.js';
export { runContainer, leftoverState, requireRoot, type ContainerOptions, type ContainerResult } from './harness.js';
export { RecordingSyscalls, namespacesPlugin, type RecordedCall } from '@bulkhead/core/testing';
