/**
 * --match REGEX: every running process whose command line matches, and each new one as it starts,
 * for as long as the recording runs. Each matched process is the root of its own ProcessTree
 * (process-tree.ts: the attach, its retries while an interpreter starts, re-attach after an exec),
 * alone or with its descendants (--subprocesses). A matched process that restarts is a new pid that
 * matches: it is found by the next scan. luaprof itself and its own descendants are never matched.
 */
import { readdirSync } from 'node:fs';
import { processStat } from './os/procfs.js';
import type { Target } from './target.js';
import type { TargetOptions } from './sample.js';
import { commandLine, ProcessTree } from './process-tree.js';

/** How often /proc is scanned for new processes. */
const SCAN_MS = 200;
/** A process that does not match is read again at every scan while this young (it may still exec)… */
const YOUNG_MS = 2000;
/** …and after that, this often (a late exec is found, at a bounded cost per scan). */
const RECHECK_MS = 5000;
const MAX_TREES = 1024;
/** Ancestors walked to tell whether a process descends from luaprof. */
const MAX_ANCESTRY = 64;

interface Seen {
  nextCheck: number;
  firstSeen: number;
}

/** The parent pid from /proc/PID/stat. */
export function parentOf(pid: number): number | null {
  const ppid = Number(processStat(pid)?.[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** `pid` is `ancestor` or descends from it. */
export function descendsFrom(pid: number, ancestor: number, parent = parentOf): boolean {
  let p: number | null = pid;
  for (let i = 0; i < MAX_ANCESTRY && p !== null && p > 0; i++) {
    if (p === ancestor) return true;
    p = parent(p);
  }
  return false;
}

/** Running processes by pid, from /proc. */
export function listPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39) out.push(Number(name));
  }
  return out.sort((a, b) => a - b);
}

export interface MatchSource {
  pids(): number[];
  commandLine(pid: number): string;
  descendsFromSelf(pid: number): boolean;
}

const procSource = (self: number): MatchSource => ({
  pids: listPids,
  commandLine,
  descendsFromSelf: (pid) => descendsFrom(pid, self),
});

/** Which of the scanned processes match: new ones, and young ones that may have exec'd since. */
export class Matcher {
  private readonly seen = new Map<number, Seen>();
  constructor(
    private readonly regex: RegExp,
    private readonly source: MatchSource,
  ) {}

  /** Pids that match now and were not reported before (each pid once while it lives). */
  scan(now: number): number[] {
    const alive = new Set<number>();
    const found: number[] = [];
    for (const pid of this.source.pids()) {
      alive.add(pid);
      let s = this.seen.get(pid);
      if (!s) this.seen.set(pid, (s = { nextCheck: now, firstSeen: now }));
      if (now < s.nextCheck) continue;
      // The regex sees the command line as ps shows it: NULs as spaces (bounded, process-tree.ts).
      if (this.regex.test(this.source.commandLine(pid))) {
        s.nextCheck = Infinity;
        // luaprof's own command line names the pattern: it, and anything it starts, is never a target.
        if (!this.source.descendsFromSelf(pid)) found.push(pid);
      } else s.nextCheck = now + (now - s.firstSeen < YOUNG_MS ? 0 : RECHECK_MS);
    }
    for (const pid of this.seen.keys()) if (!alive.has(pid)) this.seen.delete(pid);
    return found;
  }
}

/** The processes --match follows, with the interface of a ProcessTree (what the sampling loop uses). */
export class ProcessMatch {
  private readonly trees = new Map<number, ProcessTree>();
  private readonly matcher: Matcher;
  private nextScan = 0;
  /** Processes attached at some point (pid → command). */
  readonly followed = new Map<number, string>();

  constructor(
    regex: RegExp,
    private readonly opts: TargetOptions,
    private readonly log: (line: string) => void,
    private readonly followChildren: boolean,
    source: MatchSource = procSource(process.pid),
    private readonly parent: (pid: number) => number | null = parentOf,
  ) {
    this.matcher = new Matcher(regex, source);
  }

  get targets(): Target[] {
    const out: Target[] = [];
    for (const t of this.trees.values()) out.push(...t.targets);
    return out;
  }

  /** Never: new processes may match until the recording is stopped. */
  get empty(): boolean {
    return false;
  }

  commandOf(pid: number): string | undefined {
    for (const t of this.trees.values()) {
      const c = t.commandOf(pid);
      if (c !== undefined) return c;
    }
    return undefined;
  }

  /** With --subprocesses: `pid` is, or will be at the tree's next read, a member of a tree followed already. */
  private inATree(pid: number): boolean {
    if (!this.followChildren) return false;
    let p: number | null = pid;
    for (let i = 0; i < MAX_ANCESTRY && p !== null && p > 1; i++, p = this.parent(p))
      if (this.commandOf(p) !== undefined) return true;
    return false;
  }

  poll(now: number): void {
    if (now >= this.nextScan) {
      this.nextScan = now + SCAN_MS;
      for (const pid of this.matcher.scan(now)) {
        // A descendant of an earlier match (--subprocesses) is already its tree's: one series, not two.
        if (this.inATree(pid) || this.trees.size >= MAX_TREES) continue;
        this.trees.set(pid, new ProcessTree(pid, this.opts, this.log, this.followChildren));
      }
    }
    for (const [root, tree] of this.trees) {
      tree.poll(now);
      for (const [pid, command] of tree.followed) this.followed.set(pid, command);
      if (tree.empty) this.trees.delete(root);
    }
  }

  prime(): void {
    for (const t of this.trees.values()) t.prime();
  }

  sample(take: (t: Target) => void, onError: () => void): void {
    for (const t of this.trees.values()) t.sample(take, onError);
  }
}
