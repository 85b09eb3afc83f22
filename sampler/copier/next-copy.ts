/** The sampling worker's step that asks a copier for its next copy of a lone thread. */
import { keepProcessOff, samplerAffinity } from '../os/affinity.js';
import type { ThreadSampler } from '../thread-sampler.js';
import type { CopierBatch } from './batch.js';
import type { CopierCopy, CopySource } from './copier.js';
import { TickCopier } from './tick-copier.js';

/**
 * The copier's next copy of `lone`, its plan and CPU told first: null when the copier cannot copy it
 * (its plan does not fit, its CPU is unknown), 'none' when no copy came within waitMs.
 */
export function nextCopy(
  copier: CopySource,
  lone: ThreadSampler,
  waitMs: number,
  batch: CopierBatch,
): CopierCopy | 'none' | null {
  // The kernel's copies follow the thread's call chain themselves: its plan need not hold the records.
  const ticks = copier instanceof TickCopier;
  const chain = ticks ? lone.copiedWithChain() : null;
  const plan = lone.copyPlan();
  const cpu = lone.cpu();
  if (cpu < 0 || !copier.publishPlan(plan.iov, plan.count, plan.bytes, plan.version, chain)) return null;
  copier.setCpu(cpu);
  // The walk runs on another CPU than the thread's; with the kernel's copies, all of luaprof does.
  samplerAffinity.avoid(cpu);
  if (ticks) keepProcessOff(cpu);
  return copier.next(Math.max(0, waitMs), batch.size(plan.version)) ?? 'none';
}
