import { AsyncSeriesHook, SyncHook } from 'tapable';
import type { Container } from './container.js';
import type { ExitStatus } from './native/syscalls.js';
import type { Plan } from './plan/plan.js';
import type { Process } from './spec.js';
import type { ValidationContext } from './validation.js';

/** A seccomp user notification fd that the parent took from a container process. */
export interface SeccompListener {
  /** The fd in the Node process. */
  fd: number;
  /** Host pid of the process whose filter it belongs to. */
  pid: number;
}

/**
 * Creates the lifecycle hooks of one runtime. Every hook is declared here and nowhere else. The
 * runtime alone calls them; plugins receive tap-only facades (see `PluginHooks`).
 *
 * All taps run in the Node process, in the host's namespaces. A tap that must act inside the
 * container joins its namespaces through /proc/PID/ns; child-side work is never a tap but a step
 * added in `plan`.
 */
export function createHooks() {
  return Object.freeze({
    // Checking the spec. Nothing on the host has been touched yet.

    /**
     * | kind | SyncHook |
     * | --- | --- |
     * | a tap | reports problems with `validation.problem(path, message)`; its return value is ignored |
     * | runs | before anything else; every tap runs, and all problems are raised at once |
     * | next | prepare |
     */
    validate: new SyncHook<[ValidationContext]>(['validation']),

    // Building the container, before clone.

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | makes host-side resources (cgroup, overlay root, bridge) and registers each undo on `container.undo` |
     * | runs | after validate, before the child exists |
     * | next | plan |
     */
    prepare: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | SyncHook |
     * | --- | --- |
     * | a tap | appends namespaces and steps to the plan; returns nothing |
     * | runs | after prepare; the plan then goes to the executor |
     * | next | attach |
     */
    plan: new SyncHook<[Plan, Container]>(['plan', 'container']),

    // The child exists and waits at the attach barrier, before its first step.

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | does parent-side work on the child (`container.pid`): uid/gid maps, cgroup placement, moving network devices into its namespace |
     * | runs | while the child waits at the attach barrier, in its new namespaces, before any mount |
     * | next | prestart |
     */
    attach: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI prestart hooks (deprecated by the runtime-spec, kept for older engines) |
     * | runs | at the attach barrier, after attach |
     * | next | createRuntime |
     */
    prestart: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI createRuntime hooks, in the runtime's namespace |
     * | runs | at the attach barrier, after the namespaces exist and before pivot_root |
     * | next | createContainer |
     */
    createRuntime: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI createContainer hooks, which the runtime-spec runs in the container's namespaces |
     * | runs | at the attach barrier, after createRuntime and before pivot_root |
     * | next | created |
     */
    createContainer: new AsyncSeriesHook<[Container]>(['container']),

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | passes on a seccomp user notification fd (`listener.fd`, already copied into the Node process with pidfd_getfd) that a seccomp step created in `listener.pid`, the init or an exec'd process; the core closes the fd after the last tap |
     * | runs | while that process waits right after loading its filter, before the start barrier (init) or before exec (exec'd process) |
     * | next | created (init), or exec |
     */
    seccompListener: new AsyncSeriesHook<[Container, SeccompListener]>(['container', 'listener']),

    // Every step but exec has run; the child waits at the start barrier.

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | observes that the container is created (OCI status "created") |
     * | runs | at the start barrier |
     * | next | startContainer, when start is called |
     */
    created: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI startContainer hooks, which the runtime-spec runs in the container's namespaces |
     * | runs | on start, before the start barrier is released |
     * | next | started |
     */
    startContainer: new AsyncSeriesHook<[Container]>(['container']),

    // The container process runs the user's program.

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | observes that execve succeeded (OCI status "running") |
     * | runs | after the executor's sync socket reached end-of-file, which happens only on a successful execve |
     * | next | poststart |
     */
    started: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI poststart hooks |
     * | runs | after started |
     * | next | stopped, once the process exits |
     */
    poststart: new AsyncSeriesHook<[Container]>(['container']),

    // An additional process joins the running container (exec).

    /**
     * | kind | SyncHook |
     * | --- | --- |
     * | a tap | appends the steps an exec'd process needs to get the same settings as the container's init (its privileges, its seccomp filter); returns nothing |
     * | runs | on exec, after the core planned joining every namespace of the container's init |
     * | next | execAttach |
     */
    planExec: new SyncHook<[Plan, Container, Process]>(['plan', 'container', 'process']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | places the exec'd process (its host pid is the second argument) like the init, such as into the container's cgroup |
     * | runs | while the exec'd process waits at its attach barrier, already in the container's namespaces |
     * | next | none; the process then runs its steps and execs |
     */
    execAttach: new AsyncSeriesHook<[Container, number]>(['container', 'pid']),

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | freezes (true) or thaws (false) every process of the container, such as through the cgroup freezer, and returns once the kernel reports it done |
     * | runs | on pause and resume of a running container; without a tap, both fail |
     * | next | none |
     */
    freeze: new AsyncSeriesHook<[Container, boolean]>(['container', 'frozen']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | applies the changed linux.resources fields (the second argument, as given to update) to the kernel, such as through the cgroup driver |
     * | runs | on update of a created, running or paused container, after the spec with the merged resources passed validation; the runtime then saves the merged spec |
     * | next | none |
     */
    update: new AsyncSeriesHook<[Container, Record<string, unknown>]>(['container', 'resources']),

    // The container process has exited.

    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | observes the exit status (OCI status "stopped") |
     * | runs | after waitid reaped the container process |
     * | next | cleanup, when the container is deleted |
     */
    stopped: new AsyncSeriesHook<[Container, ExitStatus]>(['container', 'status']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | releases host-side resources that were not registered on the undo stack |
     * | runs | on delete, and on any failure, before the undo stack unwinds |
     * | next | poststop |
     */
    cleanup: new AsyncSeriesHook<[Container]>(['container']),
    /**
     * | kind | AsyncSeriesHook |
     * | --- | --- |
     * | a tap | runs the OCI poststop hooks; failures are logged, not raised, as the runtime-spec requires |
     * | runs | after the undo stack unwound |
     * | next | none |
     */
    poststop: new AsyncSeriesHook<[Container]>(['container']),
  });
}

export type Hooks = ReturnType<typeof createHooks>;
export type HookName = keyof Hooks;

/** The hooks created as SyncHook above: their taps cannot return promises. */
export const SYNC_HOOKS: ReadonlySet<HookName> = new Set<HookName>(['validate', 'plan', 'planExec'] satisfies SyncHookName[]);
type SyncHookName = 'validate' | 'plan' | 'planExec';

type TapArgs<H> = H extends SyncHook<infer A> ? (A extends unknown[] ? A : never) : never;
type AsyncTapArgs<H> = H extends AsyncSeriesHook<infer A> ? (A extends unknown[] ? A : never) : never;

/** Tap-only view of a synchronous hook. */
export interface SyncTap<A extends unknown[]> {
  tap(fn: (...args: A) => void): void;
}

/** Tap-only view of an asynchronous hook: a tap is a function or returns a promise. */
export interface AsyncTap<A extends unknown[]> extends SyncTap<A> {
  tapPromise(fn: (...args: A) => Promise<void>): void;
}

/** Tap-only facades of every hook, bound to one plugin's name. */
export type PluginHooks = {
  [K in HookName]: K extends SyncHookName ? SyncTap<TapArgs<Hooks[K]>> : AsyncTap<AsyncTapArgs<Hooks[K]>>;
};
