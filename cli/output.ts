/** One-line errors and their exit codes: the only way a user error leaves luaprof. */
import { LuaprofError, ExitCode } from '../sampler/errors.js';

export function fail(message: string, code: number): never {
  process.stderr.write(`luaprof: ${message.split('\n')[0]}\n`);
  process.exit(code);
}

export function failWith(e: unknown): never {
  if (e instanceof LuaprofError) fail(e.message, e.exitCode);
  const err = e as Error;
  if (process.env.LUAPROF_DEBUG) process.stderr.write(`${err?.stack ?? String(e)}\n`);
  fail(`internal error: ${err?.message ?? String(e)} (set LUAPROF_DEBUG=1 for details)`, ExitCode.internal);
}
