export { applyLevel, levelSettings, parseLevel, ISOLATION_LEVELS, LEVELS, NESTED_CAPABILITIES, type IsolationLevel, type LevelSettings, type LevelSwitches } from './levels.js';
export { checkCompliance, parseRules, DEFAULT_RULES, type Rules, type RuleName, type Violation } from './compliance.js';
export { COMMON_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, MINIMAL_CAPABILITIES } from './defaults.js';
export { defaultSeccompProfile } from './seccomp.js';
