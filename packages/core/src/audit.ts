import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the JSON-lines audit file in a container's state directory. */
export const AUDIT_FILE = 'audit.jsonl';

/**
 * One policy decision that denied or changed something for a container: a capability dropped,
 * no_new_privs set, a seccomp profile loaded, a mount refused, a limit violated.
 */
export interface AuditEvent {
  /** ISO 8601 time at which the event was recorded. */
  time: string;
  container: string;
  /** The plugin that made the decision. */
  plugin: string;
  /** 'deny' when something was refused, 'change' when the process or the host was changed. */
  decision: 'deny' | 'change';
  /** The decision, in dotted form: "capabilities.bounding.drop", "no_new_privs.set". */
  action: string;
  /** The JSON path of the spec field behind the decision, when there is one. */
  field?: string;
  /** The process it applies to: the container's own ("init") or one started by exec. */
  process?: 'init' | 'exec';
  /** Host pid of that process, when known. */
  pid?: number;
  /** Action-specific facts, such as the names of the dropped capabilities. */
  detail?: Record<string, unknown>;
}

/** The event a plugin passes to `container.audit`. The core adds the time and the container id. */
export type AuditRecord = Omit<AuditEvent, 'time' | 'container'>;

/** Receives every audit event of the containers of one runtime. */
export type AuditListener = (event: AuditEvent) => void;

/**
 * The destination of a container's audit events: appended as one JSON line each to `audit.jsonl` in its
 * state directory, and passed to the runtime's listeners. Until `open` is called (and for plans
 * that are only described) events reach the listeners only.
 */
export class AuditTrail {
  private path: string | undefined;

  constructor(private readonly listeners: readonly AuditListener[] = []) {}

  /** Starts appending to the audit file in this state directory, which must exist. */
  open(stateDir: string): void {
    this.path = join(stateDir, AUDIT_FILE);
  }

  write(event: AuditEvent): void {
    // One write(2) per event on an O_APPEND descriptor: the file system holds the inode lock for
    // the write, so lines appended by an exec in another process land whole, one after another.
    if (this.path !== undefined) appendFileSync(this.path, `${JSON.stringify(event)}\n`, { mode: 0o600 });
    for (const listener of this.listeners) listener(event);
  }
}
