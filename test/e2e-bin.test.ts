/**
 * bin/luaprof, the package's command: Node starts without NODE_EXTRA_CA_CERTS (it reads and parses
 * every certificate the variable names before running any code), unless --upload needs TLS, and the
 * processes luaprof starts get the variable back. The variable names a FIFO here: a Node that opens it
 * at start waits for a writer, so a command that finishes proves its Node never opened it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, tempDir } from './helpers/lua-process.js';

const BIN = join(ROOT, 'bin/luaprof');

function fifo(): string {
  const path = join(tempDir(), 'certs.fifo');
  execFileSync('mkfifo', [path]);
  return path;
}

const run = (argv: string[], env: NodeJS.ProcessEnv, timeout = 20_000) =>
  spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout });

describe('bin/luaprof and NODE_EXTRA_CA_CERTS', () => {
  it('Node itself opens it at start (the FIFO blocks it): the check below can fail', () => {
    const r = run([process.execPath, CLI, '--version'], { NODE_EXTRA_CA_CERTS: fifo() }, 1500);
    expect(r.error?.message ?? '').toMatch(/ETIMEDOUT/);
  });

  it('starts Node without it', () => {
    const r = run([BIN, '--version'], { NODE_EXTRA_CA_CERTS: fifo() });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('keeps it for --upload, which opens TLS connections', () => {
    const r = run(
      [BIN, 'record', '--upload', 'https://127.0.0.1:9', '--help'],
      { NODE_EXTRA_CA_CERTS: fifo() },
      1500,
    );
    expect(r.error?.message ?? '').toMatch(/ETIMEDOUT/);
  });

  it('gives it back to the command it records, unchanged, and nothing else', () => {
    const dir = tempDir();
    const seen = join(dir, 'env.txt');
    const value = join(dir, "certs with 'quotes' and spaces.pem");
    const r = run(
      [
        BIN,
        'record',
        '--no-progress',
        '-o',
        join(dir, 'p.json'),
        '--',
        'lua5.4',
        '-e',
        `local f = io.open(${JSON.stringify(seen)}, 'w')
         f:write(os.getenv('NODE_EXTRA_CA_CERTS') or '(unset)', '\\n', os.getenv('LUAPROF_NODE_EXTRA_CA_CERTS') or '(unset)')
         f:close()
         local t = os.clock() + 0.3 while os.clock() < t do end`,
      ],
      { NODE_EXTRA_CA_CERTS: value },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(seen, 'utf8')).toBe(`${value}\n(unset)`);
  });
});
