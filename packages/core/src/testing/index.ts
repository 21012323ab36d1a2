export { RecordingSyscalls, type RecordedCall } from './fake-syscalls.js';
