/** The sampling worker's step that asks a copier for the next copy of the threads it copies. */
import { keepProcessOff, samplerAffinity } from '../os/affinity.js';
import type { ThreadSampler } from '../thread-sampler.js';
import type { CopierBatch } from './batch.js';
import type { CopierCopy, CopySource } from './copier.js';
import { TickCopiers } from './tick-copier.js';

/**
 * The copier's next copy of one of `threads`, their plans and CPUs told first (CopierCopy.tid says
 * whose; the copier thread copies one thread only): null when the copier can copy none of them (no
 * plan fits, no CPU is known), 'none' when no copy came within waitMs. A thread the copier cannot
 * copy now is left to the sampler's usual way (ThreadSampler.awaitsCopies).
 */
export function nextCopy(
  copier: CopySource,
  threads: readonly ThreadSampler[],
  waitMs: number,
  batch: CopierBatch,
): CopierCopy | 'none' | null {
  // The kernel's copies follow the threads' call chains themselves: their plans need not hold the records.
  const ticks = copier instanceof TickCopiers;
  let copied = 0;
  let versions = 0;
  let cpu = -1;
  for (const t of threads) {
    const chain = ticks ? t.copiedWithChain() : null;
    const plan = t.copyPlan();
    const c = t.cpu();
    versions += plan.version;
    const fits = c >= 0 && copier.publishPlan(t.tid, plan.iov, plan.count, plan.bytes, plan.version, chain);
    if (!fits) copier.setCpu(t.tid, -1);
    else copier.setCpu(t.tid, c);
    t.awaitsCopies = fits;
    if (!fits) continue;
    copied++;
    cpu = c;
  }
  if (copied === 0) return null;
  // One thread: the walk runs on another CPU than the thread's; with the kernel's copies, all of luaprof does.
  if (copied === 1) {
    samplerAffinity.avoid(cpu);
    if (ticks) keepProcessOff(cpu);
  }
  const copy = copier.next(Math.max(0, waitMs), batch.size(versions));
  if (copy && copy.tid === undefined && threads.length === 1) copy.tid = threads[0].tid;
  return copy ?? 'none';
}

/** The thread of `threads` a copy is of (undefined: none). A loop: a closure per copy was ~115 bytes a sample. */
export function threadOf(threads: readonly ThreadSampler[], copy: CopierCopy): ThreadSampler | undefined {
  for (let i = 0; i < threads.length; i++) if (threads[i].tid === copy.tid) return threads[i];
  return undefined;
}
