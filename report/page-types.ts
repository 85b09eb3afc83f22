/**
 * The data block of the HTML report page (`<script id="luaprof-data" type="application/json">`):
 * written by report/html.ts and report/diff-html.ts, read by the page script report/flamegraph-app.js,
 * which imports these types in JSDoc (`npm run typecheck` checks both sides against them).
 */

/** Per frame: [name, "file:line", kind]. */
export type FrameRow = [string, string, string];

export interface FlameThreadData {
  label: string;
  total: number;
  /** Total of each node of FlameData.tree in this thread (pre-order, aligned with tree.f). */
  v: number[];
  /** [frame, self, total] per function, heaviest total first. */
  fn: Array<[number, number, number]>;
}

export interface FlameData {
  mode: 'profile';
  title: string;
  facts: Array<[string, string]>;
  /** Per frame: [name, "file:line", kind]. */
  frames: FrameRow[];
  /** Call tree of all threads in pre-order: frame index and depth of each node (children by name). */
  tree: { f: number[]; d: number[] };
  threads: FlameThreadData[];
}

export interface DiffPageData {
  mode: 'diff';
  title: string;
  facts: Array<[string, string]>;
  frames: FrameRow[];
  baseTotal: number;
  newTotal: number;
  /** Merged call tree; b/n are total weights in base and new. */
  tree: { f: number[]; d: number[]; b: number[]; n: number[] };
  /** [frame, baseSelf, baseTotal, newSelf, newTotal, pValue, significant(0|1)] */
  fn: Array<[number, number, number, number, number, number, number]>;
  alpha: number;
}

export type PageData = FlameData | DiffPageData;
