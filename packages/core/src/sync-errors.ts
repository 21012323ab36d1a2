import { BulkheadError, errnoName, ExecutorError, StepError } from './errors.js';
import type { ExecutorLink } from './executor.js';
import { describeStep, stepHint } from './plan/describe.js';
import type { Barrier, PlannedStep } from './plan/steps.js';

/**
 * Waits for the child to reach a barrier; anything else becomes the error it means. A seccomp
 * listener handed over on the way goes to `onListener`, after which the child is let go on.
 */
export async function expectBarrier(link: ExecutorLink, barrier: Barrier, steps: PlannedStep[], onListener?: (fd: number) => Promise<void>): Promise<void> {
  let message = await link.next();
  while (message.type === 'listener' && onListener !== undefined) {
    await onListener(message.fd);
    link.releaseListener(message.fd);
    message = await link.next();
  }
  if (message.type !== 'barrier') throw unexpected(link, message, `the ${barrier} barrier`, steps);
}

/** Turns a message that is not the one awaited into the error it means. */
export function unexpected(link: ExecutorLink, message: { type: string; index?: number; errno?: number }, awaited: string, steps: PlannedStep[]): Error {
  if (message.type === 'step-failed') return stepError(message.index!, message.errno!, steps);
  if (message.type === 'eof') return link.failure() ?? new ExecutorError(`executor exited while the parent waited for ${awaited}`);
  return new ExecutorError(`executor sent ${message.type} while the parent waited for ${awaited}`);
}

function stepError(index: number, errno: number, steps: PlannedStep[]): BulkheadError {
  const planned = steps[index];
  if (planned === undefined) {
    return new StepError({ plugin: 'core', index, op: 'setup', summary: 'join namespaces and clone the container process' }, errno);
  }
  const hint = stepHint(planned.step, errnoName(errno));
  return new StepError({ plugin: planned.plugin, index, op: planned.step.op, summary: describeStep(planned.step), ...(hint === undefined ? {} : { hint }) }, errno);
}

