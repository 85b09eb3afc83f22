/** The sampling worker's frame and stack ids: each distinct frame and stack numbered once, as first seen. */
import { FrameTable, type Frame } from '../aggregator/profile.js';
import { StackTrie, type StackNode } from '../aggregator/stack-trie.js';

export class StackIds {
  readonly frameTable: FrameTable;
  private readonly stackTrie = new StackTrie();
  private stackCount = 0;
  /** Stacks numbered since the last takeNew(), by frame ids innermost first. */
  private fresh: number[][] = [];
  /** This stack's frame ids and the last one's, swapped after each (no copy, no length set). */
  private ids: number[] = [];
  private lastFrames: readonly Frame[] = [];
  private lastIds: number[] = [];
  private lastNode: StackNode | null = null;

  constructor(byLine = false) {
    this.frameTable = new FrameTable(byLine);
  }

  /** The id of a stack given innermost first. */
  idOf(frames: readonly Frame[]): number {
    const ids = this.ids;
    const last = this.lastFrames;
    const n = frames.length;
    const m = last.length;
    // The resolver hands the frames that did not change since the last sample back as the same
    // objects (PucResolver.recall): their ids are the last sample's, and so is the stack when all are.
    let same = 0;
    while (same < n && same < m && frames[n - 1 - same] === last[m - 1 - same]) same++;
    const lastIds = this.lastIds;
    let sameIds = n === lastIds.length;
    if (ids.length !== n) ids.length = n;
    for (let i = 0; i < n; i++) {
      const id = i >= n - same ? lastIds[i - n + m] : this.frameTable.intern(frames[i]);
      if (sameIds && id !== lastIds[i]) sameIds = false;
      ids[i] = id;
    }
    const node = sameIds && this.lastNode ? this.lastNode : this.stackTrie.innermostFirst(ids);
    if (node.id < 0) {
      node.id = this.stackCount++;
      this.fresh.push(ids.slice());
    }
    this.lastFrames = frames;
    this.lastIds = ids;
    this.ids = lastIds;
    this.lastNode = node;
    return node.id;
  }

  /** The stacks numbered since the last call, in id order. */
  takeNew(): number[][] {
    const stacks = this.fresh;
    this.fresh = [];
    return stacks;
  }
}
