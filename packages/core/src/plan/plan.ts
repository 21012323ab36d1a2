import { BulkheadError, ErrorCode } from '../errors.js';
import type { NamespaceType } from '../spec.js';
import { BARRIERS, PHASES, type Barrier, type NamespaceRequest, type Phase, type PlannedStep, type Step, type TimeClock, type TimeOffsetRequest } from './steps.js';

/**
 * The child program of one container: which namespaces to create or join, and the steps the
 * executor runs between clone and exec. Plugins append to it in the `plan` hook; it is plain data
 * that can be printed and compared in tests.
 */
export class Plan {
  readonly namespaces: NamespaceRequest[] = [];
  /** Clock offsets the executor's setup stage writes for the time namespace it creates before the clone. */
  readonly timeOffsets: TimeOffsetRequest[] = [];
  /**
   * Set when the parent writes "deny" to the child's /proc/PID/setgroups, as an unprivileged
   * gid_map needs: setgroups(2) then fails with EPERM, so the process keeps its supplementary
   * groups and no setgroups step is planned for it.
   */
  setgroupsDenied = false;
  private readonly phases = new Map<Phase, PlannedStep[]>(PHASES.map((phase) => [phase, []]));

  /** Asks for a new namespace of this type, or to join the one at `path`. */
  namespace(plugin: string, type: NamespaceType, path?: string): void {
    const existing = this.namespaces.find((ns) => ns.type === type);
    if (existing !== undefined) {
      throw new BulkheadError(ErrorCode.PLUGIN_CONFLICT, `plugins ${existing.plugin} and ${plugin} both plan the ${type} namespace`, {
        expected: false,
      });
    }
    this.namespaces.push(path === undefined ? { type, plugin } : { type, plugin, path });
  }

  /** Sets a clock's offset in the time namespace that the setup stage creates (a new time namespace without a new user namespace). */
  timeOffset(plugin: string, clock: TimeClock, secs: number, nanosecs: number): void {
    const existing = this.timeOffsets.find((offset) => offset.clock === clock);
    if (existing !== undefined) {
      throw new BulkheadError(ErrorCode.PLUGIN_CONFLICT, `plugins ${existing.plugin} and ${plugin} both set the ${clock} offset`, { expected: false });
    }
    this.timeOffsets.push({ plugin, clock, secs, nanosecs });
  }

  /** Appends a step to a phase. `tolerate` lists errno names the executor ignores for it. */
  add(plugin: string, phase: Phase, step: Step, tolerate: string[] = []): void {
    this.phases.get(phase)!.push({ plugin, phase, step, tolerate });
  }

  /** True when the plan creates (not joins) a namespace of this type. */
  creates(type: NamespaceType): boolean {
    return this.namespaces.some((ns) => ns.type === type && ns.path === undefined);
  }

  /** Every step in execution order, with the attach and start barriers in place. */
  steps(): PlannedStep[] {
    const ordered: PlannedStep[] = [barrier('attach')];
    for (const phase of PHASES) {
      if (phase === 'exec') ordered.push(barrier('start'));
      // A loop, not push(...steps): spreading hundreds of thousands of steps overflows the stack.
      for (const step of this.phases.get(phase)!) ordered.push(step);
    }
    return ordered;
  }
}

function barrier(name: Barrier): PlannedStep {
  return { plugin: 'core', phase: 'barrier', step: { op: 'barrier', barrier: name }, tolerate: [] };
}

export { BARRIERS };
