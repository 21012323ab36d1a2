import { AuditTrail, type AuditRecord } from './audit.js';
import type { Logger } from './log.js';
import type { ExitStatus, Syscalls } from './native/syscalls.js';
import { OCI_VERSION, type ContainerSpec, type ContainerState, type ContainerStatus } from './spec.js';
import { UndoStack } from './undo.js';

/** One container as the hooks see it: its spec, where it lives, its process and its undo stack. */
export class Container {
  status: ContainerStatus = 'creating';
  /** Host pid of the container process, once cloned. */
  pid: number | undefined;
  /** pidfd of the container process: signals and waits go through it, never through the pid. */
  pidfd: number | undefined;
  /** Start time of the container process (/proc/PID/stat field 22), recorded once it is cloned. */
  startTime: number | undefined;
  /** When the container was created, as an ISO 8601 time. */
  created = new Date().toISOString();
  /** The one waitid on the pidfd, once someone waits: it resolves when the process has exited and been reaped. */
  exit: Promise<ExitStatus> | undefined;
  /** Enter the root with MS_MOVE and chroot instead of pivot_root (CreateOptions.noPivotRoot). */
  noPivotRoot = false;
  /** Host-side changes register their undo here the moment they are made. */
  readonly undo = new UndoStack();
  private readonly records = new Map<string, Record<string, unknown>>();
  /**
   * Writes state.json now, records included. A prepare tap calls it after recording a host-side
   * change and before making it, so that `delete` can still find what a
   * create killed in between had made.
   */
  saveState: () => Promise<void> = async () => {};
  /** Where `audit` sends events; the runtime sets it to one that writes the state directory's audit file. */
  auditTrail = new AuditTrail();

  constructor(
    readonly id: string,
    readonly spec: ContainerSpec,
    /** The OCI bundle directory; for containers built from flags, the working directory. */
    readonly bundle: string,
    /** This container's directory under the state root. */
    readonly stateDir: string,
    readonly syscalls: Syscalls,
    readonly log: Logger,
  ) {}

  /** A plugin's own data about this container, persisted with its state. */
  record(plugin: string): Record<string, unknown> {
    let record = this.records.get(plugin);
    if (record === undefined) {
      record = {};
      this.records.set(plugin, record);
    }
    return record;
  }

  /** Restores the plugin records of a container created by another process. */
  restoreRecords(records: Record<string, Record<string, unknown>>): void {
    for (const [plugin, record] of Object.entries(records)) this.records.set(plugin, record);
  }

  /** All plugin records, for persisting. */
  allRecords(): Record<string, Record<string, unknown>> {
    return Object.fromEntries(this.records);
  }

  /**
   * Records a policy decision that denied or changed something, such as a capability dropped.
   * It is logged, appended to the container's audit file and passed to the runtime's audit
   * listeners.
   */
  audit(record: AuditRecord): void {
    const event = { time: new Date().toISOString(), container: this.id, ...record };
    this.log.info({ audit: event }, `audit: ${record.decision} ${record.action}`);
    this.auditTrail.write(event);
  }

  /** The runtime-spec State document. */
  state(): ContainerState {
    const state: ContainerState = { ociVersion: OCI_VERSION, id: this.id, status: this.status, bundle: this.bundle };
    if (this.pid !== undefined && (this.status === 'created' || this.status === 'running' || this.status === 'paused')) state.pid = this.pid;
    if (this.spec.annotations !== undefined) state.annotations = this.spec.annotations;
    return state;
  }
}
