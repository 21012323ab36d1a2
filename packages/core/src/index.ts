export { Runtime, ContainerHandle, type RuntimeOptions, type CreateOptions } from './runtime.js';
export { Container } from './container.js';
export { AUDIT_FILE, type AuditEvent, type AuditRecord, type AuditListener } from './audit.js';
export { createHooks, type SeccompListener, type Hooks, type HookName, type PluginHooks, type SyncTap, type AsyncTap } from './hooks.js';
export { CORE_VERSION, type Plugin, type PluginApi } from './plugin.js';
export { ValidationContext } from './validation.js';
export { Plan } from './plan/plan.js';
export { PHASES, BARRIERS, MOUNT_FLAGS, MOUNT_ATTRS, type Phase, type Step, type StepOp, type PlannedStep, type PathArg, type MountFlag, type MountAttr, type NamespaceRequest, type TimeClock, type TimeOffsetRequest } from './plan/steps.js';
export { describeStep, formatSteps } from './plan/describe.js';
export { encodePlan } from './plan/encode.js';
export { CLONE_FLAGS, NAMESPACE_TYPES, PROC_NS_NAMES } from './namespaces.js';
export { inheritFromInit, planNamespace } from './plugin-helpers.js';
export { UndoStack } from './undo.js';
export { silentLogger, type Logger } from './log.js';
export { libc } from './native/libc.js';
export { SeccompFilter, SCMP_CMP, SCMP_FLTATR, resolveArch, resolveSyscall, nativeArch, apiLevel, libseccompVersion, type ScmpCompare, type ScmpArgCmp } from './native/libseccomp.js';
export { BPF_CONSTANTS, exitCodeOf, UMOUNT_FLAGS, type ExitStatus, type Syscalls } from './native/syscalls.js';
export { DEFAULT_STATE_ROOT, defaultStateRoot, EXEC_FIFO, checkContainerId, type StateDocument } from './state.js';
export { EXECUTOR_PATH } from './executor.js';
export {
  ErrorCode,
  BulkheadError,
  SpecError,
  StepError,
  HookError,
  SyscallError,
  PluginConflictError,
  PluginInvalidError,
  ExecutorError,
  ContainerStateError,
  errnoName,
  type ErrorCodeValue,
  type SpecProblem,
} from './errors.js';
export { OCI_VERSION, findNamespace, type ContainerSpec, type ContainerState, type ContainerStatus, type Process, type Root, type Mount, type IdMapping, type TimeOffset, type Namespace, type NamespaceType, type Linux, type LinuxDevice, type Capabilities, type User, type Rlimit, type Hook, type Hooks as OciHooks } from './spec.js';
export { readConfig } from './config.js';
export { probeKernel, type KernelFeatures } from './features.js';
export { runInNamespaces, type ExecOptions } from './exec.js';
export { type ExtraFdOptions } from './extra-fds.js';
