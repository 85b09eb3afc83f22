/**
 * Browser globals of the report page, for type-checking report/flamegraph-app.js (tsconfig.page.json
 * only; the Node build never sees this file). d3 and d3-flame-graph are inlined before the page script
 * as UMD bundles: declared here is only the part of their API the page calls, as it behaves in the
 * versions package.json pins (d3 7, d3-flame-graph 5).
 */

/** A node of the chart's data tree in a profile page (built from FlameData.tree, pruned). */
export interface ProfileNode {
  /** Frame name (the thread label at the root). */
  n: string;
  /** Frame index into data.frames; -1 at the root. */
  fi: number;
  /** Total samples. */
  v: number;
  /** Samples of all children, pruned ones included (self = v - k). */
  k: number;
  /** Index of the node in the packed tree; -1 at the root. */
  i: number;
  c?: ProfileNode[];
}

/** A node of the chart's data tree in a diff page. */
export interface DiffNode {
  n: string;
  fi: number;
  /** Total weight in base and in new. */
  b: number;
  w: number;
  /** Chart width (share of base or new, scaled) and difference of shares, scaled. */
  v: number;
  dd: number;
  /** Relative change of share, for the colour. */
  rel?: number;
  i: number;
  /** Children's weights in base and new (self = b - kb, w - kw). */
  kb: number;
  kw: number;
  c?: DiffNode[];
}

export type ChartNode = ProfileNode | DiffNode;

/** d3.hierarchy node as d3-flame-graph hands it to callbacks. */
export interface FlameNode {
  data: ChartNode;
  /** Set by d3-flame-graph on nodes that match the current search. */
  highlight?: boolean;
  descendants(): FlameNode[];
}

export interface FlameGraphTooltip {
  (): void;
  show(event: MouseEvent, d: FlameNode): void;
  hide(): void;
}

export interface FlameGraph {
  (selection: D3Selection): void;
  width(w: number): FlameGraph;
  cellHeight(h: number): FlameGraph;
  minFrameSize(px: number): FlameGraph;
  transitionDuration(ms: number): FlameGraph;
  inverted(on: boolean): FlameGraph;
  tooltip(tip: FlameGraphTooltip): FlameGraph;
  getName(f: (d: FlameNode) => string): FlameGraph;
  setColorMapper(f: (d: FlameNode) => string): FlameGraph;
  setSearchMatch(f: (d: FlameNode, term: string) => boolean): FlameGraph;
  setSearchHandler(f: () => void): FlameGraph;
  onClick(f: (d: FlameNode) => void): FlameGraph;
  zoomTo(d: FlameNode): void;
  search(term: string): void;
  clear(): void;
  resetZoom(): void;
}

export interface D3Selection {
  /** Binds the chart's root data (a ChartNode; d3-flame-graph turns it into a hierarchy). */
  datum(root: ChartNode): D3Selection;
  /** After the chart has drawn: the hierarchy it built. */
  datum(): FlameNode;
  call(f: (s: D3Selection) => void): D3Selection;
}

declare global {
  const d3: { select(el: Element): D3Selection };
  const flamegraph: { default(): FlameGraph };
  interface Window {
    /** Handle for tests (test/report-browser.test.ts) and for poking at the page from the console. */
    luaprofReport?: { chart(): FlameGraph | null; state: unknown; readyMs: number };
  }
}
