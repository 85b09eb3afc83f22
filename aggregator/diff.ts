/**
 * Comparing two profiles ("what got slower between release A and B").
 *
 * Frames are matched by function identity (name + file; + line with byLine). Each profile is
 * normalised to its own total, so a longer recording is not "slower". For every function the
 * self and total shares are compared with a two-proportion z-test on the sample counts; the
 * significance threshold is Bonferroni-corrected for the number of functions tested, so two
 * recordings of the same program flag nothing.
 */
import type { Frame, Profile } from './profile.js';
import { functionIdentity, functionStats, stackWeights, totalWeight } from './tree.js';

export interface DiffOptions {
  /** Match frames by current line too. */
  byLine?: boolean;
  /** Family-wise significance level (before Bonferroni correction). Default 0.01. */
  alpha?: number;
}

export interface ProportionTest {
  z: number;
  /** Two-sided p-value. */
  p: number;
}

export interface FunctionDiff {
  key: string;
  name: string;
  file?: string;
  /** Representative frame (in the merged frame table of the diff). */
  frame: number;
  baseSelf: number;
  baseTotal: number;
  newSelf: number;
  newTotal: number;
  /** Shares in [0, 1]. */
  baseSelfShare: number;
  baseTotalShare: number;
  newSelfShare: number;
  newTotalShare: number;
  /** Change of total/self share in percentage points (new − base). */
  deltaTotalPts: number;
  deltaSelfPts: number;
  total: ProportionTest;
  self: ProportionTest;
  /** Total share changed significantly (p < corrected alpha). */
  significant: boolean;
  selfSignificant: boolean;
}

/** Merged call tree keyed by function identity; b/n are total weights in base and new. */
export interface DiffTreeNode {
  frame: number;
  base: number;
  next: number;
  children: Map<number, DiffTreeNode>;
}

export interface ProfileDiff {
  baseTotal: number;
  newTotal: number;
  /** Merged frame table (one per function identity). */
  frames: Frame[];
  functions: FunctionDiff[];
  /** Significant growth of total share, largest first. */
  regressions: FunctionDiff[];
  /** Significant shrink of total share, largest first. */
  improvements: FunctionDiff[];
  tree: DiffTreeNode;
  alpha: number;
  /** Per-test threshold after Bonferroni correction. */
  threshold: number;
  byLine: boolean;
}

/** Standard normal upper tail, via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Two-proportion z-test of x1/n1 against x2/n2 (pooled variance); two-sided p-value. */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number): ProportionTest {
  if (n1 <= 0 || n2 <= 0) return { z: 0, p: 1 };
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return { z: 0, p: p1 === p2 ? 1 : 0 };
  const z = (p2 - p1) / se;
  return { z, p: Math.min(1, 2 * normalSf(Math.abs(z))) };
}

export function diffProfiles(base: Profile, next: Profile, opts: DiffOptions = {}): ProfileDiff {
  const byLine = opts.byLine ?? false;
  const alpha = opts.alpha ?? 0.01;
  const frames: Frame[] = [];
  const ids = new Map<string, number>();
  const mapper = (p: Profile): number[] =>
    p.frames.map((f) => {
      const key = functionIdentity(f, byLine);
      let id = ids.get(key);
      if (id === undefined) {
        id = frames.length;
        const g: Frame = { kind: f.kind, name: f.name };
        if (f.file !== undefined) g.file = f.file;
        if (byLine && (f.line ?? f.lineDefined) !== undefined) g.line = f.line ?? f.lineDefined;
        else if (f.lineDefined !== undefined) g.lineDefined = f.lineDefined;
        frames.push(g);
        ids.set(key, id);
      }
      return id;
    });
  const mapB = mapper(base);
  const mapN = mapper(next);
  const swB = stackWeights(base);
  const swN = stackWeights(next);
  const nB = totalWeight(swB);
  const nN = totalWeight(swN);
  const keyB = (i: number) => String(mapB[i]);
  const keyN = (i: number) => String(mapN[i]);
  const sB = functionStats(base, swB, keyB);
  const sN = functionStats(next, swN, keyN);

  const keys = new Set<string>([...sB.keys(), ...sN.keys()]);
  const m = Math.max(1, keys.size);
  const threshold = alpha / m;
  const functions: FunctionDiff[] = [];
  for (const k of keys) {
    const b = sB.get(k);
    const n = sN.get(k);
    const frame = Number(k);
    const f = frames[frame];
    const baseSelf = b?.self ?? 0;
    const baseTotal = b?.total ?? 0;
    const newSelf = n?.self ?? 0;
    const newTotal = n?.total ?? 0;
    const total = twoProportionTest(baseTotal, nB, newTotal, nN);
    const self = twoProportionTest(baseSelf, nB, newSelf, nN);
    const fd: FunctionDiff = {
      key: functionIdentity(f, byLine),
      name: f.name,
      frame,
      baseSelf,
      baseTotal,
      newSelf,
      newTotal,
      baseSelfShare: share(baseSelf, nB),
      baseTotalShare: share(baseTotal, nB),
      newSelfShare: share(newSelf, nN),
      newTotalShare: share(newTotal, nN),
      deltaTotalPts: 100 * (share(newTotal, nN) - share(baseTotal, nB)),
      deltaSelfPts: 100 * (share(newSelf, nN) - share(baseSelf, nB)),
      total,
      self,
      significant: total.p < threshold,
      selfSignificant: self.p < threshold,
    };
    if (f.file !== undefined) fd.file = f.file;
    functions.push(fd);
  }
  functions.sort(
    (a, b) =>
      b.deltaTotalPts - a.deltaTotalPts || b.deltaSelfPts - a.deltaSelfPts || a.name.localeCompare(b.name),
  );
  const regressions = functions.filter((f) => f.significant && f.deltaTotalPts > 0);
  const improvements = functions
    .filter((f) => f.significant && f.deltaTotalPts < 0)
    .sort((a, b) => a.deltaTotalPts - b.deltaTotalPts || a.deltaSelfPts - b.deltaSelfPts);

  // Merged call tree by identity path.
  const tree: DiffTreeNode = { frame: -1, base: 0, next: 0, children: new Map() };
  const addTree = (p: Profile, sw: Map<number, number>, map: number[], which: 'base' | 'next') => {
    for (const [sid, w] of sw) {
      let node = tree;
      node[which] += w;
      for (const fi of p.stacks[sid] ?? []) {
        const id = map[fi];
        let c = node.children.get(id);
        if (!c) {
          c = { frame: id, base: 0, next: 0, children: new Map() };
          node.children.set(id, c);
        }
        c[which] += w;
        node = c;
      }
    }
  };
  addTree(base, swB, mapB, 'base');
  addTree(next, swN, mapN, 'next');

  return {
    baseTotal: nB,
    newTotal: nN,
    frames,
    functions,
    regressions,
    improvements,
    tree,
    alpha,
    threshold,
    byLine,
  };
}

function share(x: number, n: number): number {
  return n > 0 ? x / n : 0;
}

/** Functions whose total share grew significantly by more than `pts` percentage points. */
export function regressionsOver(diff: ProfileDiff, pts: number): FunctionDiff[] {
  return diff.regressions.filter((f) => f.deltaTotalPts > pts);
}

/** Pre-order packing of the merged tree (see aggregator/tree.ts packTree), children in `order`. */
export function packDiffTree(
  root: DiffTreeNode,
  order: (a: DiffTreeNode, b: DiffTreeNode) => number = (a, b) => b.next + b.base - a.next - a.base,
): { f: number[]; d: number[]; b: number[]; n: number[] } {
  const f: number[] = [];
  const d: number[] = [];
  const b: number[] = [];
  const n: number[] = [];
  const todo: Array<[DiffTreeNode, number]> = [];
  const push = (x: DiffTreeNode, depth: number) => {
    const kids = [...x.children.values()].sort(order);
    for (let i = kids.length - 1; i >= 0; i--) todo.push([kids[i], depth]);
  };
  push(root, 0);
  while (todo.length) {
    const [x, depth] = todo.pop()!;
    f.push(x.frame);
    d.push(depth);
    b.push(r6(x.base));
    n.push(r6(x.next));
    push(x, depth + 1);
  }
  return { f, d, b, n };
}

function r6(x: number): number {
  return Number.isInteger(x) ? x : Math.round(x * 1e6) / 1e6;
}

/** Plain-text summary: totals, then significant regressions, then improvements. */
export function formatDiffSummary(diff: ProfileDiff, limit = 10): string {
  const out: string[] = [];
  out.push(
    `base: ${fmt(diff.baseTotal)} samples, new: ${fmt(diff.newTotal)} samples; ${diff.functions.length} functions compared` +
      ` (two-proportion z-test, alpha ${diff.alpha} Bonferroni-corrected to ${diff.threshold.toExponential(1)})`,
  );
  const row = (f: FunctionDiff) =>
    `  ${sign(f.deltaTotalPts)} pts total  ${pct(f.baseTotalShare)} -> ${pct(f.newTotalShare)}` +
    `  (self ${pct(f.baseSelfShare)} -> ${pct(f.newSelfShare)}; samples ${fmt(f.baseTotal)} -> ${fmt(f.newTotal)}; p=${fmtP(f.total.p)})  ` +
    `${oneLine(f.name)}${f.file ? ` (${oneLine(f.file)})` : ''}`;
  if (diff.regressions.length) {
    out.push(`Regressions (${diff.regressions.length} significant):`);
    for (const f of diff.regressions.slice(0, limit)) out.push(row(f));
    if (diff.regressions.length > limit) out.push(`  … ${diff.regressions.length - limit} more`);
  } else out.push('Regressions: none significant');
  if (diff.improvements.length) {
    out.push(`Improvements (${diff.improvements.length} significant):`);
    for (const f of diff.improvements.slice(0, limit)) out.push(row(f));
    if (diff.improvements.length > limit) out.push(`  … ${diff.improvements.length - limit} more`);
  } else out.push('Improvements: none significant');
  return out.join('\n') + '\n';
}

function oneLine(s: string): string {
  // Target-originated text: keep the terminal safe (no control characters / escape sequences).
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}
function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
function sign(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(2)}`.padStart(7);
}
function fmtP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}
