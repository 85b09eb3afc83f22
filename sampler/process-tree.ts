/**
 * --subprocesses: a process and every descendant it has while the recording runs, whether or not it
 * runs Lua. Processes that never load Lua (a shell, make, a process manager) are passed through:
 * watched for their children, not sampled. Each process that runs Lua is attached as soon as its state
 * can be found (retried every few ms while it starts), and again after it execs. A member stays a
 * member after its parent exits (a daemon's first process, a shell that ran it in the background), so
 * the tree is followed until its last process is gone.
 */
import { readFileSync } from 'node:fs';
import { LuaprofError } from './errors.js';
import { targetGone } from './gone.js';
import { detectLua } from './lua/detect.js';
import { exePath } from './os/procfs.js';
import { isExiting } from './pause.js';
import type { TargetOptions } from './sample.js';
import { Target, TargetExecError } from './target.js';
import { children } from './threads.js';

/** How often the tree is read again: short-lived children (a test runner's interpreters) must not slip by. */
const POLL_MS = 10;
/** A process with Lua whose state cannot be found yet (starting up) is tried again after this long. */
const RETRY_MS = 20;
/** A process without Lua is looked at again after this long (it may load a library), or at its next exec. */
const NO_LUA_RECHECK_MS = 1000;
const MAX_MEMBERS = 4096;
/** Bytes of a command line kept for a process's name (it comes from the target: bounded, made inert). */
const MAX_COMMAND = 200;

interface Member {
  /** The executable when last looked at: an exec replaces the process's program (and its Lua). */
  exe: string | null;
  target: Target | null;
  /** No attach before this time. */
  retryAt: number;
  /** Attaches that failed since the last exec. */
  failures: number;
  command: string;
}

/** A process's command line, for naming its profile: bounded, NULs as spaces, control characters dropped. */
export function commandLine(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`).subarray(0, MAX_COMMAND * 4);
    const text = raw
      .toString('utf8')
      .replace(/\0+$/, '')
      .replace(/\0/g, ' ')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x1f\x7f]/g, '');
    return text.length > MAX_COMMAND ? text.slice(0, MAX_COMMAND - 1) + '…' : text;
  } catch {
    return '';
  }
}

export class ProcessTree {
  private readonly members = new Map<number, Member>();
  private next = 0;
  private now = 0;
  /** Processes attached at some point (pid → command), for the summary and "nothing found". */
  readonly followed = new Map<number, string>();

  /**
   * `opts` as for the root target; the root is a member like its descendants. Without
   * `followChildren` (--match without --subprocesses) the tree is the root alone, still re-attached
   * after an exec.
   */
  constructor(
    private readonly root: number,
    private readonly opts: TargetOptions,
    private readonly log: (line: string) => void = () => undefined,
    private readonly followChildren = true,
  ) {
    this.add(root, 0);
  }

  /** The attached processes (those running Lua now). */
  get targets(): Target[] {
    const out: Target[] = [];
    for (const m of this.members.values()) if (m.target) out.push(m.target);
    return out;
  }

  /** Every process of the tree has exited. */
  get empty(): boolean {
    return this.members.size === 0;
  }

  /** The command line of a member (for naming its threads). */
  commandOf(pid: number): string | undefined {
    return this.members.get(pid)?.command;
  }

  private add(pid: number, now: number): void {
    if (this.members.has(pid) || this.members.size >= MAX_MEMBERS) return;
    this.members.set(pid, { exe: null, target: null, retryAt: now, failures: 0, command: commandLine(pid) });
  }

  private drop(pid: number): void {
    this.members.get(pid)?.target?.close();
    this.members.delete(pid);
  }

  /** Reads the tree again (at most every POLL_MS): new descendants, exits, execs, states now found. */
  poll(now: number): void {
    if (now < this.next) return;
    this.next = now + POLL_MS;
    this.now = now;
    for (const pid of [...this.members.keys()]) {
      if (isExiting(pid)) {
        this.drop(pid);
        continue;
      }
      if (this.followChildren) for (const c of children(pid)) this.add(c, now);
    }
    for (const [pid, m] of this.members) {
      const exe = exePath(pid);
      if (exe !== m.exe) {
        // A new program (or the first look): whatever was attached belongs to the old one.
        m.target?.close();
        m.target = null;
        m.exe = exe;
        m.retryAt = now;
        m.failures = 0;
        m.command = commandLine(pid);
      }
      if (m.target || now < m.retryAt) continue;
      this.attach(pid, m, now);
    }
  }

  private attach(pid: number, m: Member, now: number): void {
    if (!detectLua(pid)) {
      m.retryAt = now + NO_LUA_RECHECK_MS;
      return;
    }
    try {
      // --threads names threads of the root; every thread of a descendant is sampled.
      const threads = pid === this.root ? this.opts.threads : undefined;
      // Attempts on a process still starting its interpreter would each print a heap scan line.
      const t = Target.attach(pid, { ...this.opts, threads, log: () => undefined });
      t.warmUp(100, 10);
      m.target = t;
      // Read again: a command line read while the process was still exec'ing may be partial.
      m.command = commandLine(pid);
      this.followed.set(pid, m.command);
      this.log(`luaprof: following pid ${pid} (${t.luaVersion}): ${m.command}`);
    } catch {
      // Its state is not made yet or not whole (an interpreter starting: no state found, or the layout
      // check caught it half built), or it is gone: soon again, then less and less often.
      m.retryAt = now + Math.min(RETRY_MS * 2 ** m.failures, NO_LUA_RECHECK_MS);
      m.failures++;
    }
  }

  prime(): void {
    for (const m of this.members.values()) m.target?.prime();
  }

  /** Runs `take` on each attached process; one that is gone (or fails for good) is detached, any other failure is one error. */
  sample(take: (t: Target) => void, onError: () => void): void {
    for (const [pid, m] of this.members) {
      if (!m.target) continue;
      try {
        take(m.target);
      } catch (e) {
        if (targetGone(pid, e)) this.drop(pid);
        else if (e instanceof LuaprofError || e instanceof TargetExecError) {
          // An exec: the next poll sees the new program and attaches to it if it runs Lua.
          m.target.close();
          m.target = null;
          m.retryAt = this.now + NO_LUA_RECHECK_MS;
        } else onError();
      }
    }
  }
}
