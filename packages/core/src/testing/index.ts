export { RecordingSyscalls, type RecordedCall } from './fake-syscalls.js';
export { namespacesPlugin } from './namespaces-plugin.js';
export { TIME_SCALE } from './time-scale.js';
