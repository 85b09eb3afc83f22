/** The CLI's one error path: actions return exit codes, errors become one line and their code. */
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { exitCodeAction, runCommand } from '../cli/output.js';
import { ExitCode, LuaprofError } from '../sampler/errors.js';

describe('runCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  async function run(
    action: () => Promise<number> | number,
    args: string[] = ['go'],
  ): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('process.exit called');
    }) as never);
    const program = new Command('luaprof').exitOverride();
    program.command('go').option('-n <n>').action(exitCodeAction(action));
    const code = await runCommand(program, ['node', 'luaprof', ...args]);
    expect(exit).not.toHaveBeenCalled();
    return { code, stderr };
  }

  it("returns the action's exit code", async () => {
    expect(await run(() => ExitCode.ok)).toEqual({ code: 0, stderr: '' });
    expect(await run(async () => ExitCode.targetExited)).toEqual({ code: 9, stderr: '' });
  });

  it('a LuaprofError: the first line of its message and its own code', async () => {
    expect(
      await run(() => {
        throw new LuaprofError('malformedProfile', 'x.json: not a profile\nsecond line');
      }),
    ).toEqual({ code: ExitCode.malformedProfile, stderr: 'luaprof: x.json: not a profile\n' });
  });

  it('anything else: one internal-error line, exit 1', async () => {
    const r = await run(() => {
      throw new Error('boom');
    });
    expect(r.code).toBe(ExitCode.internal);
    expect(r.stderr).toMatch(/^luaprof: internal error: boom \(set LUAPROF_DEBUG=1 for details\)\n$/);
  });

  it("commander's usage errors exit 2, help 0", async () => {
    expect((await run(() => 0, ['go', '--nope'])).code).toBe(ExitCode.badArguments);
    expect((await run(() => 0, ['go', '--help'])).code).toBe(ExitCode.ok);
  });
});
