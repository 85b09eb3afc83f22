/** One node of a stack trie: the stack of the frames on the path to it, and its longer stacks by next frame. */
export interface StackNode {
  /** The stack's id, -1 until its owner numbers it. */
  id: number;
  next: Map<number, StackNode> | null;
}

/** Finds a stack by its frame ids without building a key: one map lookup per frame, nothing allocated once seen. */
export class StackTrie {
  private readonly root: StackNode = { id: -1, next: null };

  /** The node of a stack given root first. */
  rootFirst(ids: readonly number[]): StackNode {
    let node = this.root;
    for (let i = 0; i < ids.length; i++) node = child(node, ids[i]);
    return node;
  }

  /** The node of a stack given innermost first, each id mapped through `map` when given. */
  innermostFirst(ids: readonly number[], map: ((id: number) => number) | null = null): StackNode {
    let node = this.root;
    for (let i = ids.length - 1; i >= 0; i--) node = child(node, map ? map(ids[i]) : ids[i]);
    return node;
  }
}

function child(node: StackNode, frame: number): StackNode {
  if (node.next === null) node.next = new Map();
  let c = node.next.get(frame);
  if (c === undefined) {
    c = { id: -1, next: null };
    node.next.set(frame, c);
  }
  return c;
}
