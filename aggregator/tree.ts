/**
 * Folding a Profile into call trees and per-function tables.
 * Pure functions over the Profile model: no I/O, no format knowledge.
 */
import type { Frame, Profile, ThreadProfile } from './profile.js';

/** Summed weight per stack id over the given threads (all threads when omitted). */
export function stackWeights(
  profile: Profile,
  threads: ThreadProfile[] = profile.threads,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of threads) {
    const { samples, weights } = t;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const w = weights[i] ?? 1;
      out.set(s, (out.get(s) ?? 0) + w);
    }
  }
  return out;
}

export function totalWeight(sw: Map<number, number>): number {
  let n = 0;
  for (const w of sw.values()) n += w;
  return n;
}

/** A call-tree node; `frame` is an index into the key space used to build it (-1 for the root). */
export interface TreeNode {
  frame: number;
  total: number;
  self: number;
  children: Map<number, TreeNode>;
}

export function newNode(frame: number): TreeNode {
  return { frame, total: 0, self: 0, children: new Map() };
}

/**
 * Folds stacks into a call tree rooted at a synthetic node (frame -1).
 * `mapFrame` maps a profile frame index to the tree's key space (identity by default), so
 * a caller can merge frames that share a function identity.
 */
export function buildTree(
  profile: Profile,
  sw: Map<number, number>,
  mapFrame?: (frame: number) => number,
): TreeNode {
  const root = newNode(-1);
  for (const [sid, w] of sw) {
    const stack = profile.stacks[sid] ?? [];
    let node = root;
    node.total += w;
    for (let i = 0; i < stack.length; i++) {
      const f = mapFrame ? mapFrame(stack[i]) : stack[i];
      let child = node.children.get(f);
      if (!child) {
        child = newNode(f);
        node.children.set(f, child);
      }
      child.total += w;
      node = child;
    }
    node.self += w;
  }
  return root;
}

export function countNodes(root: TreeNode): number {
  let n = 0;
  const todo: TreeNode[] = [root];
  while (todo.length) {
    const x = todo.pop()!;
    n++;
    for (const c of x.children.values()) todo.push(c);
  }
  return n;
}

/**
 * Compact pre-order encoding of a tree: parallel arrays of frame index, depth and total.
 * Self values are recomputed by the reader (total minus the children's totals).
 * Children are emitted in `order` (heaviest first by default). The synthetic root is not emitted (depth 0 = outermost frames).
 */
export interface PackedTree {
  f: number[];
  d: number[];
  v: number[];
}

export function packTree(
  root: TreeNode,
  order: (a: TreeNode, b: TreeNode) => number = heaviestFirst,
): PackedTree {
  const f: number[] = [];
  const d: number[] = [];
  const v: number[] = [];
  const todo: Array<[TreeNode, number]> = [];
  const push = (n: TreeNode, depth: number) => {
    const kids = [...n.children.values()].sort(order);
    for (let i = kids.length - 1; i >= 0; i--) todo.push([kids[i], depth]);
  };
  push(root, 0);
  while (todo.length) {
    const [n, depth] = todo.pop()!;
    f.push(n.frame);
    d.push(depth);
    v.push(round6(n.total));
    push(n, depth + 1);
  }
  return { f, d, v };
}

/**
 * Packs the tree of all `threads` once and, for each thread, the total of every node in that
 * thread (0 where the thread never reached the node): the shared shape is stored once.
 */
export function packThreadTrees(
  profile: Profile,
  threads: ThreadProfile[],
  order: (a: TreeNode, b: TreeNode) => number = heaviestFirst,
): { tree: { f: number[]; d: number[] }; all: number[]; perThread: number[][]; totals: number[] } {
  const merged = buildTree(profile, stackWeights(profile, threads));
  const index = new Map<TreeNode, number>();
  const f: number[] = [];
  const d: number[] = [];
  const all: number[] = [];
  const todo: Array<[TreeNode, number]> = [];
  const push = (n: TreeNode, depth: number) => {
    const kids = [...n.children.values()].sort(order);
    for (let i = kids.length - 1; i >= 0; i--) todo.push([kids[i], depth]);
  };
  push(merged, 0);
  while (todo.length) {
    const [n, depth] = todo.pop()!;
    index.set(n, f.length);
    f.push(n.frame);
    d.push(depth);
    all.push(round6(n.total));
    push(n, depth + 1);
  }
  const perThread: number[][] = [];
  const totals: number[] = [];
  for (const t of threads) {
    const vals = new Array<number>(f.length).fill(0);
    const tree = buildTree(profile, stackWeights(profile, [t]));
    totals.push(round6(tree.total));
    const walk: Array<[TreeNode, TreeNode]> = [[tree, merged]];
    while (walk.length) {
      const [tn, mn] = walk.pop()!;
      for (const [frame, tc] of tn.children) {
        const mc = mn.children.get(frame)!;
        vals[index.get(mc)!] = round6(tc.total);
        walk.push([tc, mc]);
      }
    }
    perThread.push(vals);
  }
  return { tree: { f, d }, all, perThread, totals };
}

export function heaviestFirst(a: TreeNode, b: TreeNode): number {
  return b.total - a.total;
}

function round6(x: number): number {
  return Number.isInteger(x) ? x : Math.round(x * 1e6) / 1e6;
}

/** Self and total weight of one function (a key in the caller's identity space). */
export interface FunctionStat {
  key: string;
  /** A representative frame index (first seen). */
  frame: number;
  self: number;
  total: number;
}

/**
 * Per-function self and total weight. `total` counts a stack once per function even when the
 * function recurses; `self` is the weight of stacks whose leaf is the function.
 */
export function functionStats(
  profile: Profile,
  sw: Map<number, number>,
  keyOf: (frameIndex: number) => string = (i) => String(i),
): Map<string, FunctionStat> {
  const keys = profile.frames.map((_, i) => keyOf(i));
  const out = new Map<string, FunctionStat>();
  const get = (fi: number): FunctionStat => {
    const k = keys[fi] ?? `?${fi}`;
    let s = out.get(k);
    if (!s) {
      s = { key: k, frame: fi, self: 0, total: 0 };
      out.set(k, s);
    }
    return s;
  };
  const seen = new Set<string>();
  for (const [sid, w] of sw) {
    const stack = profile.stacks[sid] ?? [];
    if (stack.length === 0) continue;
    seen.clear();
    for (const fi of stack) {
      const s = get(fi);
      if (!seen.has(s.key)) {
        seen.add(s.key);
        s.total += w;
      }
    }
    get(stack[stack.length - 1]).self += w;
  }
  return out;
}

/** Function identity used by diff: name + file (+ current line when byLine). */
export function functionIdentity(f: Frame, byLine = false): string {
  const base = `${f.name}\u0000${f.file ?? ''}`;
  return byLine ? `${base}\u0000${f.line ?? f.lineDefined ?? ''}` : base;
}

/** "file:line" for display (line = current line when known, else line defined). */
export function frameLocation(f: Frame): string {
  const line = f.line ?? f.lineDefined;
  if (!f.file) return line !== undefined ? `:${line}` : '';
  return line !== undefined && line > 0 ? `${f.file}:${line}` : f.file;
}
