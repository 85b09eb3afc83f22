/**
 * One-line errors and their exit codes. A command's action returns its exit code or throws; a
 * LuaprofError becomes one line "luaprof: <message>" on stderr and its own code, anything else an
 * internal error (1). Only cli/main.ts calls process.exit, with what runCommand returns.
 */
import { CommanderError, type Command } from 'commander';
import { LuaprofError, ExitCode } from '../sampler/errors.js';
import { inert } from '../report/terminal-text.js';
import { isClosedPipe } from '../report/output-path.js';

/** Writes the first line of a message to stderr as a luaprof error line. */
export function errorLine(message: string): void {
  // Messages can quote the target (names, versions, paths): inert, like every terminal line.
  process.stderr.write(`luaprof: ${inert(message.split('\n')[0])}\n`);
}

/** Reports an error an action threw and returns the exit code it stands for. */
export function reportError(e: unknown): number {
  // `luaprof … | head -1`: the reader has what it wanted; nothing went wrong.
  if (isClosedPipe(e)) return ExitCode.ok;
  if (e instanceof LuaprofError) {
    errorLine(e.message);
    return e.exitCode;
  }
  const err = e as Error;
  if (process.env.LUAPROF_DEBUG) process.stderr.write(`${err?.stack ?? String(e)}\n`);
  errorLine(`internal error: ${err?.message ?? String(e)} (set LUAPROF_DEBUG=1 for details)`);
  return ExitCode.internal;
}

/** The exit code of the last action run under each top-level program. */
const exitCodes = new WeakMap<Command, number>();

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

/**
 * Wraps an action that returns an exit code (or throws) so that runCommand can return that code.
 * Its arguments are commander's (`any[]`, as commander types them): arguments, options, command.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander types an action's arguments as any[]
export type ActionArgs = any[];

export function exitCodeAction(fn: (...args: ActionArgs) => Promise<number> | number) {
  return async function (this: Command, ...args: ActionArgs): Promise<void> {
    let code: number;
    try {
      code = await fn(...args);
    } catch (e) {
      code = reportError(e);
    }
    exitCodes.set(rootOf(this), code);
  };
}

/**
 * Parses argv and runs the chosen action; returns the exit code. Commander's own usage errors (its
 * exitOverride throws them, after printing their line) are bad arguments (2), help and version 0.
 */
export async function runCommand(program: Command, argv: readonly string[]): Promise<number> {
  exitCodes.delete(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.ok : ExitCode.badArguments;
    return reportError(e);
  }
  return exitCodes.get(program) ?? ExitCode.ok;
}
