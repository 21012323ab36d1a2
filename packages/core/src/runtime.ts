import type { StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AuditTrail, type AuditListener } from './audit.js';
import { Container } from './container.js';
import { attachCleanupErrors, ContainerStateError, ErrorCode, SpecError } from './errors.js';
import { ExecutorLink } from './executor.js';
import { ExtraFds, type ExtraFdOptions } from './extra-fds.js';
import { createHooks, type Hooks } from './hooks.js';
import { silentLogger, type Logger } from './log.js';
import { libc } from './native/libc.js';
import { exitCodeOf, type ExitStatus, type Syscalls } from './native/syscalls.js';
import { describeStep } from './plan/describe.js';
import { encodePlan } from './plan/encode.js';
import { Plan } from './plan/plan.js';
import type { PlannedStep } from './plan/steps.js';
import { checkPlugin, Claims, pluginHooks, type Plugin } from './plugin.js';
import { addProcessSteps } from './process.js';
import { OCI_VERSION, type ContainerSpec, type ContainerState, type NamespaceType, type Process } from './spec.js';
import { execInContainer, type ExecOptions } from './exec.js';
import { containerPids, deleteStored, freezeStored, killStored, loadContainer, readStates, startStored, storedState, type StoreContext } from './stored.js';
import { validateShape } from './spec-shape.js';
import { checkContainerId, createStateDir, defaultStateRoot, EXEC_FIFO, listIds, processStartTime, removeLockFile, withLock, writeState } from './state.js';
import { takeListener } from './listener.js';
import { expectBarrier, unexpected } from './sync-errors.js';
import { ValidationContext, validateCoreFields } from './validation.js';

export interface RuntimeOptions {
  /** Directory holding one state directory per container. Default /run/bulkhead for root, $XDG_RUNTIME_DIR/bulkhead for other users. */
  stateRoot?: string;
  /** The parent-side syscall layer; tests pass the recording fake. */
  syscalls?: Syscalls;
  logger?: Logger;
}

export interface CreateOptions extends ExtraFdOptions {
  /** Container id; a random one when absent. */
  id?: string;
  /** The OCI bundle directory, reported in the state. Default: the working directory. */
  bundle?: string;
  /** fds 0-2 of the container process, as child_process.spawn takes them. Default 'inherit'. */
  stdio?: StdioOptions;
  /**
   * Kill the container process with SIGKILL when the Node process that created it dies, so a
   * crash leaves no container behind. Default: true for `run`, false for `create`, whose
   * container may outlive its creator.
   */
  dieWithParent?: boolean;
  /**
   * Let the container outlive this process, as `bulkhead create` does: it waits on a FIFO in its
   * state directory instead of the sync socket, and any process starts, signals and deletes it
   * by id through `start`, `kill` and `delete` of a Runtime on the same state root.
   */
  detach?: boolean;
  /**
   * Enter the root with MS_MOVE and chroot instead of pivot_root, for roots where pivot_root
   * fails, such as the initramfs. The host's mounts then stay in the container's mount
   * namespace, hidden under its root.
   */
  noPivotRoot?: boolean;
}

/**
 * Drives containers through the lifecycle hooks. It isolates nothing by itself: the plugins
 * given to `use` decide every namespace, mount and limit.
 */
export class Runtime {
  private readonly hooks: Hooks = createHooks();
  private readonly claims = new Claims();
  private readonly plugins: Plugin[] = [];
  readonly stateRoot: string;
  private readonly syscalls: Syscalls;
  private readonly log: Logger;
  private readonly auditListeners: AuditListener[] = [];

  constructor(options: RuntimeOptions = {}) {
    this.stateRoot = options.stateRoot ?? defaultStateRoot();
    this.syscalls = options.syscalls ?? libc;
    this.log = options.logger ?? silentLogger;
  }

  /** Registers a plugin. Rejects a plugin that claims a namespace or field another one owns. */
  use(plugin: Plugin): this {
    checkPlugin(plugin);
    this.claims.add(plugin);
    plugin.apply({ hooks: pluginHooks(this.hooks, plugin.name) });
    this.plugins.push(plugin);
    return this;
  }

  /**
   * Subscribes to the audit events of every container this runtime creates or execs in: each
   * policy decision that denied or changed something. The same events are appended to
   * `audit.jsonl` in the container's state directory while it exists.
   */
  onAudit(listener: AuditListener): this {
    this.auditListeners.push(listener);
    return this;
  }

  /** Validates a spec with the core's checks and every plugin's; throws SpecError listing all problems. */
  validate(spec: ContainerSpec, bundle?: string, id?: string): ValidationContext {
    const validation = new ValidationContext(spec, bundle);
    // Types first: plugins' validators may then trust the shape of what they read.
    if (!validateShape(validation)) throw new SpecError(validation.problems);
    validateCoreFields(validation, {
      namespace: (type) => this.claims.namespaceOwner(type as NamespaceType),
      field: (path) => this.claims.fieldOwner(path),
    });
    this.hooks.validate.call(validation);
    if (validation.problems.length > 0) {
      this.auditDenials(validation, id);
      throw new SpecError(validation.problems);
    }
    for (const warning of validation.warnings) this.log.warn({ field: warning.path }, warning.message);
    return validation;
  }

  /**
   * Sends each policy denial of a failed validation to the audit listeners and the log. No state
   * directory exists yet, so there is no audit file; `container` is empty when no id was given.
   */
  private auditDenials(validation: ValidationContext, id: string | undefined): void {
    const trail = new AuditTrail(this.auditListeners);
    for (const denial of validation.denials) {
      const event = { time: new Date().toISOString(), container: id ?? '', ...denial };
      this.log.info({ audit: event }, `audit: ${denial.decision} ${denial.action}`);
      trail.write(event);
    }
  }

  /** Builds the plan of a container without touching the host: validate and plan only. */
  describe(spec: ContainerSpec, options: CreateOptions = {}): Plan {
    this.validate(spec, options.bundle);
    return this.buildPlan(this.newContainer(spec, options), options);
  }

  /**
   * Creates a container: validates, prepares host resources, spawns the executor and runs every
   * step up to the start barrier. On failure, everything made so far is undone before the error
   * is thrown.
   */
  async create(spec: ContainerSpec, options: CreateOptions = {}): Promise<ContainerHandle> {
    // The id is chosen first, so that audit events of denials in validation name it.
    options = { ...options, id: options.id ?? generateId() };
    this.validate(spec, options.bundle, options.id);
    const container = this.newContainer(spec, options);
    if (options.detach !== true) return this.createLocked(container, options);
    return withLock(this.syscalls, this.stateRoot, container.id, () => this.createLocked(container, options), { mustExist: false }).catch((error: unknown) => {
      // A create that made nothing leaves no lock file either.
      if (!existsSync(container.stateDir)) removeLockFile(this.stateRoot, container.id);
      throw error;
    });
  }

  private async createLocked(container: Container, options: CreateOptions): Promise<ContainerHandle> {
    let link: ExecutorLink | undefined;
    let extraFds: ExtraFds | undefined;
    try {
      // State directory first: it is the lock on the id and holds what later steps record.
      await createStateDir(container, this.stateRoot);
      container.auditTrail.open(container.stateDir);
      if (options.detach === true) this.syscalls.mkfifo(join(container.stateDir, EXEC_FIFO), 0o600);
      container.saveState = () => writeState(container);
      await writeState(container);

      // Host-side resources, each registering its undo and its record; the records are written
      // at once, so that a create killed from here on leaves what `delete` needs.
      await this.hooks.prepare.promise(container);
      await writeState(container);

      // The child program, then the child itself. The executor gets its own copies of the
      // console socket and the preserved fds, so this process's copies are closed at once.
      extraFds = await ExtraFds.open(container.spec.process, options);
      const plan = this.buildPlan(container, options, extraFds);
      const steps = plan.steps();
      logPlan(container, plan, steps);
      link = new ExecutorLink(encodePlan(plan), options.stdio ?? 'inherit', extraFds.stdio);
      extraFds.close();
      await this.receivePid(container, link, steps);

      // Parent-side work while the child waits before its first step.
      await expectBarrier(link, 'attach', steps);
      await this.runAttachHooks(container);
      link.release('attach');

      // Every step but exec.
      await expectBarrier(link, 'start', steps, (fd) => takeListener(this.hooks, container, container.pid!, container.pidfd!, fd));
      container.status = 'created';
      await writeState(container);
      await this.hooks.created.promise(container);
      if (options.detach === true) {
        // From here the container waits on the exec FIFO, and the sync socket is no longer needed.
        link.release('start');
        link.close();
      }
      return new ContainerHandle(this.hooks, container, link, steps);
    } catch (error) {
      link?.close();
      extraFds?.close();
      await abort(this.hooks, container, error);
      throw error;
    }
  }

  /** Creates, starts and waits for a container, then deletes it. Returns how its process ended. */
  async run(spec: ContainerSpec, options: CreateOptions & { onStart?: (handle: ContainerHandle) => void } = {}): Promise<ExitStatus> {
    const handle = await this.create(spec, { dieWithParent: true, ...options });
    try {
      await handle.start();
      options.onStart?.(handle);
      return await handle.wait();
    } finally {
      await handle.delete();
    }
  }

  // Containers created with `detach`, addressed by id from any process. Each command holds the
  // id's lock, so concurrent commands on one container run one after another.

  /** Starts a detached container that is created. */
  async start(id: string): Promise<void> {
    await withLock(this.syscalls, this.stateRoot, id, () => startStored(this.store(), id));
  }

  /** Returns the runtime-spec State of a container, with its status as of now. */
  state(id: string): ContainerState & { created: string } {
    return storedState(this.store(), id);
  }

  /** Sends a signal to a container's process, or with `all` to every process in its pid namespace. */
  async kill(id: string, signal: number, options: { all?: boolean } = {}): Promise<void> {
    await withLock(this.syscalls, this.stateRoot, id, async () => killStored(this.store(), id, signal, options.all ?? false));
  }

  /** Freezes every process of a running container. */
  async pause(id: string): Promise<void> {
    await withLock(this.syscalls, this.stateRoot, id, () => freezeStored(this.store(), id, true));
  }

  /** Thaws a paused container. */
  async resume(id: string): Promise<void> {
    await withLock(this.syscalls, this.stateRoot, id, () => freezeStored(this.store(), id, false));
  }

  /** Deletes a container: a running one only with `force`, which kills it first. With `force`, a missing container is not an error, as with runc. */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    try {
      await withLock(this.syscalls, this.stateRoot, id, () => deleteStored(this.store(), id, options.force ?? false));
    } catch (error) {
      if (options.force === true && (error as { code?: string }).code === ErrorCode.CONTAINER_NOT_FOUND) return;
      throw error;
    }
  }

  /** Returns the states of every container under the state root. */
  async list(): Promise<(ContainerState & { created: string })[]> {
    return readStates(this.store(), await listIds(this.stateRoot));
  }

  /** Runs another process in a running container and resolves with its exit status (undefined with `detach`). */
  async exec(id: string, process: Process, options: ExecOptions = {}): Promise<ExitStatus | undefined> {
    this.validate({ ociVersion: OCI_VERSION, process });
    return execInContainer(this.store(), id, process, options);
  }

  /**
   * Changes the resource limits of a created, running or paused container. `resources` contains the
   * linux.resources fields to change: they are merged into the stored spec (objects field by
   * field, lists replaced whole), the result is validated as create validates a spec, the update
   * taps apply the change, and the merged spec is saved.
   */
  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    await withLock(this.syscalls, this.stateRoot, id, () => this.updateLocked(id, resources));
  }

  private async updateLocked(id: string, resources: Record<string, unknown>): Promise<void> {
    const container = loadContainer(this.store(), id);
    if (container.status !== 'created' && container.status !== 'running' && container.status !== 'paused') {
      throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot update container ${id}: it is ${container.status}`);
    }
    if (this.hooks.update.taps.length === 0) throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot update container ${id}: no plugin of this runtime can change resources`);

    // The whole spec is validated, so that a change is checked against the limits it leaves in place.
    const linux = { ...container.spec.linux, resources: mergeObjects(container.spec.linux?.resources ?? {}, resources) };
    this.validate({ ...container.spec, linux }, container.bundle);

    await this.hooks.update.promise(container, resources);
    container.spec.linux = linux;
    await writeState(container);
  }

  /**
   * Rebuilds a stored container (its spec, status, pid and plugin records) for functions that
   * read it, such as a plugin's statistics. It holds no lock: the container may change meanwhile.
   */
  container(id: string): Container {
    return loadContainer(this.store(), id);
  }

  /** Returns the spec a stored container was created from. */
  config(id: string): ContainerSpec {
    return loadContainer(this.store(), id).spec;
  }

  /** Host pids of a container's processes. */
  pids(id: string): number[] {
    return containerPids(loadContainer(this.store(), id));
  }

  private store(): StoreContext {
    return { stateRoot: this.stateRoot, syscalls: this.syscalls, hooks: this.hooks, log: this.log, auditListeners: this.auditListeners };
  }

  private newContainer(spec: ContainerSpec, options: CreateOptions): Container {
    const id = options.id ?? generateId();
    checkContainerId(id);
    const log = this.log.child({ container: id });
    // The container gets its own copy: plan taps may adjust it (see docs/plugins.md), and the
    // caller's object must not change under it.
    const container = new Container(id, structuredClone(spec), options.bundle ?? process.cwd(), join(this.stateRoot, id), this.syscalls, log);
    container.noPivotRoot = options.noPivotRoot ?? false;
    container.auditTrail = new AuditTrail(this.auditListeners);
    return container;
  }

  private buildPlan(container: Container, options: CreateOptions, extraFds?: ExtraFds): Plan {
    const plan = new Plan();
    // The FIFO is opened first, while its path in the state directory still resolves: after
    // pivot_root it is outside the container's root.
    if (options.detach === true) plan.add('core', 'filesystem', { op: 'open-path', path: join(container.stateDir, EXEC_FIFO), slot: 'exec-fifo' });
    this.hooks.plan.call(plan, container);
    addProcessSteps(plan, container.spec, { dieWithParent: options.dieWithParent ?? false, execFifo: options.detach === true ? 'exec-fifo' : undefined, ...(extraFds === undefined ? {} : { extraFds }) });
    return plan;
  }

  private async receivePid(container: Container, link: ExecutorLink, steps: PlannedStep[]): Promise<void> {
    const message = await link.next();
    if (message.type !== 'pid') throw unexpected(link, message, 'the child pid', steps);
    container.pid = message.pid;
    const pidfd = this.syscalls.pidfdOpen(message.pid);
    container.startTime = processStartTime(message.pid);
    container.pidfd = pidfd;
    container.undo.defer(`kill and reap container process ${message.pid}`, () => reap(container));
    container.log.debug({ pid: message.pid }, 'cloned container process');
  }

  private async runAttachHooks(container: Container): Promise<void> {
    await this.hooks.attach.promise(container);
    await this.hooks.prestart.promise(container);
    await this.hooks.createRuntime.promise(container);
    await this.hooks.createContainer.promise(container);
  }
}

/** Merges `change` into `base`: nested objects field by field; anything else, lists included, is replaced. */
function mergeObjects(base: Record<string, unknown>, change: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(change)) {
    const previous = merged[key];
    merged[key] = isPlainObject(previous) && isPlainObject(value) ? mergeObjects(previous, value) : value;
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A created container: start it, signal it, wait for it, delete it. */
export class ContainerHandle {
  private stopped: Promise<ExitStatus> | undefined;

  constructor(
    private readonly hooks: Hooks,
    readonly container: Container,
    private readonly link: ExecutorLink,
    private readonly steps: PlannedStep[],
  ) {}

  get pid(): number {
    return this.container.pid!;
  }

  /** The executor's child_process handle: its stdin/stdout/stderr when stdio was 'pipe'. */
  get stdio() {
    return this.link.process.stdio;
  }

  /** Releases the start barrier and waits until execve succeeded. */
  async start(): Promise<void> {
    const { container } = this;
    if (container.status !== 'created') throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot start container ${container.id}: it is ${container.status}, not created`);
    if (container.spec.process === undefined) throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot start container ${container.id}: its spec has no process`);
    // End-of-file on the sync socket also comes when the child dies, so a child that is gone
    // already (killed while created) must not be reported as running.
    if (container.syscalls.hasExited(container.pidfd!)) {
      container.status = 'stopped';
      throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot start container ${container.id}: its process exited before start`);
    }
    await this.hooks.startContainer.promise(container);
    this.link.release('start');
    const message = await this.link.next();
    this.link.close();
    if (message.type !== 'eof') throw unexpected(this.link, message, 'execve', this.steps);
    container.status = 'running';
    await writeState(container);
    await this.hooks.started.promise(container);
    await this.hooks.poststart.promise(container);
  }

  /** Sends a signal to the container process through its pidfd. */
  kill(signal: number): void {
    if (this.container.status === 'stopped') throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot signal container ${this.container.id}: it is stopped`);
    this.container.syscalls.pidfdSendSignal(this.container.pidfd!, signal);
  }

  /** Waits for the container process to exit; resolves with how it ended. Safe to call again, also after delete. */
  wait(): Promise<ExitStatus> {
    this.stopped ??= this.observeExit();
    return this.stopped;
  }

  private async observeExit(): Promise<ExitStatus> {
    const { container } = this;
    const status = await awaitExit(container);
    container.log.debug({ status, code: exitCodeOf(status) }, 'container process exited');
    await this.hooks.stopped.promise(container, status);
    return status;
  }

  /** Kills the process if it still runs, then releases everything the container holds. */
  async delete(): Promise<void> {
    this.link.close();
    const errors = await cleanup(this.hooks, this.container);
    if (errors.length > 0) throw new AggregateError(errors, `delete container ${this.container.id}: ${errors.map((e) => e.message).join('; ')}`);
  }
}

/**
 * Waits for the container process to exit, with one waitid per container: a second waitid on
 * the same pidfd would fail with ECHILD once the first reaped the process.
 */
function awaitExit(container: Container): Promise<ExitStatus> {
  container.exit ??= container.syscalls.waitid(container.pidfd!).then((status) => {
    container.status = 'stopped';
    return status;
  });
  return container.exit;
}

async function reap(container: Container): Promise<void> {
  const pidfd = container.pidfd;
  if (pidfd === undefined) return;
  if (container.status !== 'stopped') {
    try {
      container.syscalls.pidfdSendSignal(pidfd, 9);
    } catch {
      // ESRCH: the process already exited; waitid below still reaps it.
    }
  }
  await awaitExit(container).catch(() => undefined);
  container.pidfd = undefined;
  container.syscalls.close(pidfd);
}

async function cleanup(hooks: Hooks, container: Container): Promise<Error[]> {
  const errors: Error[] = [];
  await hooks.cleanup.promise(container).catch((error: Error) => errors.push(error));
  errors.push(...(await container.undo.unwind()));
  await hooks.poststop.promise(container).catch((error: Error) => container.log.warn({ err: error }, 'poststop hook failed'));
  return errors;
}

async function abort(hooks: Hooks, container: Container, error: unknown): Promise<void> {
  const errors = await cleanup(hooks, container);
  attachCleanupErrors(error, errors);
}

/**
 * Generates a container id from the time, the pid and a random part. An id that is taken anyway fails on the
 * state directory's exclusive mkdir. node:crypto is avoided because loading it costs several
 * milliseconds of every start.
 */
function generateId(): string {
  const random = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return `${Date.now().toString(36)}-${process.pid.toString(36)}-${random}`;
}

/** Logs every namespace and step at debug: each is a choice the kernel will see. */
function logPlan(container: Container, plan: Plan, steps: PlannedStep[]): void {
  for (const ns of plan.namespaces) container.log.debug({ namespace: ns.type, join: ns.path, plugin: ns.plugin }, ns.path === undefined ? 'create namespace' : 'join namespace');
  steps.forEach((planned, index) => container.log.debug({ step: index, phase: planned.phase, plugin: planned.plugin }, describeStep(planned.step)));
}
