export { createRuntime, type ComposeOptions } from './compose.js';
export { defaultSpec, mergeEnv, type DefaultSpecOptions } from './default-spec.js';
export { main, VERSION } from './main.js';
