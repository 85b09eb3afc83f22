/**
 * `dump --locals` against Lua's own debug.getlocal/getupvalue (fixtures/lua/locals.lua writes what they
 * see at every level, varargs too, then spins) on every PUC runtime present and on LuaJIT's interpreter (-joff); and every byte from the target that
 * reaches the terminal is inert (fixtures/lua/hostile-names.lua).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, luaprof, startLua, tempDir, waitForFile, alive, ptraceState } from './helpers/lua-process.js';
import { availableRuntimes } from './helpers/runtimes.js';

/** Each check takes seconds; the bound is for a machine shared by many runs (load average 40 seen). */
const SLOW_MACHINE_MS = 180_000;
const children: { kill(): void }[] = [];
// Each test's target spins until killed: left running to the end of the file, they shared the two
// CPUs with every test after them (the 12th test took 8 times the first's time).
afterEach(() => children.splice(0).forEach((c) => c.kill()));

interface Var {
  name: string;
  type: string;
  value: string;
}
interface JsonFrame {
  kind: string;
  name: string;
  locals?: Var[] | null;
  upvalues?: Var[];
  localsUnavailable?: string;
}

/** The oracle's lines, per Lua level (1 = innermost): locals and upvalues as Lua saw them. */
function parseOracle(text: string): { locals: Var[][]; upvalues: Var[][] } {
  const locals: Var[][] = [];
  const upvalues: Var[][] = [];
  for (const line of text.split('\n')) {
    const [kind, level, name, type, value] = line.split('\t');
    if (kind !== 'L' && kind !== 'U') continue;
    const into = kind === 'L' ? locals : upvalues;
    (into[Number(level) - 1] ??= []).push({ name, type, value });
  }
  return { locals, upvalues };
}

/** The oracle's value compared where it has a printable form ("?": only the type); tables by address. */
function expectSame(got: Var[], want: Var[], where: string): void {
  expect(
    got.map((v) => v.name),
    where,
  ).toEqual(want.map((v) => v.name));
  want.forEach((w, i) => {
    const g = got[i];
    expect(g.type, `${where} ${w.name}`).toBe(w.type);
    if (w.value === '?') return;
    if (w.type === 'table') expect(g.value.split(' (')[0], `${where} ${w.name}`).toBe(w.value);
    else expect(g.value, `${where} ${w.name}`).toBe(w.value);
  });
}

const RUNTIMES = availableRuntimes('puc');
/** LuaJIT interpreted frames (-joff: no trace keeps locals in registers). */
const JIT_OFF = availableRuntimes('luajit');
/** A control character a terminal would act on (tab and newline are the output's own). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const LIVE_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe.each([...RUNTIMES, ...JIT_OFF])('dump --locals on $name', (rt) => {
  it(
    'lists what debug.getlocal and debug.getupvalue see at every level, values rendered safely',
    async () => {
      const oracleFile = join(tempDir(), 'oracle.txt');
      const child =
        rt.flavour === 'luajit'
          ? startLua(rt.argv0, '-joff', ['locals.lua', oracleFile])
          : startLua(rt.argv0, 'locals.lua', [oracleFile]);
      children.push(child);
      await waitForFile(oracleFile);
      const oracle = parseOracle(await waitForFile(oracleFile));
      const r = await luaprof(['dump', '-p', String(child.pid), '--locals=all', '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const frames: JsonFrame[] = JSON.parse(r.stdout).threads[0].frames.filter(
        (f: JsonFrame) => f.kind === 'lua',
      );
      expect(frames.length).toBe(oracle.locals.length);
      frames.forEach((f, i) => {
        expect(f.localsUnavailable, f.name).toBeUndefined();
        expectSame(f.locals!, oracle.locals[i] ?? [], `level ${i + 1} locals`);
        expectSame(f.upvalues!, oracle.upvalues[i] ?? [], `level ${i + 1} upvalues`);
      });
      const spin = new Map(frames[0].locals!.map((v) => [v.name, v.value]));
      // LuaJIT's array part has room for one more than its constructor's items.
      const arraySize = rt.flavour === 'luajit' ? 4 : 3;
      expect(spin.get('array')).toMatch(new RegExp(`^table: 0x[0-9a-f]+ \\(${arraySize} array, 0 hash\\)$`));
      expect(spin.get('hash')).toMatch(/\(0 array, 2 hash\)$/);
      expect(spin.get('empty')).toMatch(/\(0 array, 0 hash\)$/);
      // Hostile bytes: escaped, and a 1 MB string cut at 80 bytes with its length.
      expect(spin.get('bad')).toBe('"\\x1b[2J\\x1b]0;pwned\\x07 \\xff\\xfe end"');
      expect(spin.get('large')).toBe(`"${'x'.repeat(80)}"... (1048576 bytes)`);
      expect(spin.get('cfn')).toMatch(/^function: builtin /);
      // A library C function package.loaded does not list (string.gmatch's iterator): by its symbol where
      // the binary has symbols (the runtimes built here, OpenResty's LuaJIT), else by module and function
      // start as --native profiles label it, never by the nearest exported name before it.
      expect(spin.get('iter')).toMatch(
        rt.builtBy
          ? /^function: builtin (gmatch_aux|lj_cf_string_gmatch_aux)$/
          : /^function: builtin \S+\+0x[0-9a-f]+$/,
      );
      // Extra arguments (5.2+ and LuaJIT): entry(1, 2.5, "more", nil, 3)'s after its fixed parameters, and
      // the main chunk's (the oracle file's name).
      const varargs = (f: JsonFrame) =>
        f.locals!.filter((v) => v.name.includes('vararg')).map((v) => v.value);
      const entry = frames.find((f) => f.name.includes('entry'))!;
      expect(entry.locals!.slice(0, 2).map((v) => `${v.name}=${v.value}`)).toEqual(['a=1', 'b=2.5']);
      if (!rt.name.startsWith('lua5.1')) {
        expect(varargs(entry)).toEqual(['"more"', 'nil', '3']);
        expect(varargs(frames[frames.length - 1])).toEqual([`"${oracleFile}"`]);
      }

      const text = await luaprof(['dump', '-p', String(child.pid), '--locals']);
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(/\n\t {4}int = 42\n/);
      expect(text.stdout).not.toMatch(/\n\t {4}upvalue /);
      expect(text.stdout).not.toMatch(LIVE_CONTROL);
      expect(ptraceState(child.pid!)).toMatchObject({ tracer: 0 });
      expect(alive(child.pid!)).toBe(true);
    },
    SLOW_MACHINE_MS,
  );
});

describe.each(JIT_OFF.slice(0, 1))('dump --locals on $name with the JIT on', (rt) => {
  it(
    'says a frame running in a trace has no readable locals, and reads the interpreted ones',
    async () => {
      const oracleFile = join(tempDir(), 'oracle.txt');
      const child = startLua(rt.argv0, 'locals.lua', [oracleFile]);
      children.push(child);
      await waitForFile(oracleFile);
      // The spin loop becomes a trace once it is hot: take dumps until one is in it.
      let frames: JsonFrame[] = [];
      for (let i = 0; i < 20 && frames[0]?.kind !== 'jit'; i++) {
        const r = await luaprof(['dump', '-p', String(child.pid), '--locals', '--json']);
        expect(r.status).toBe(0);
        frames = JSON.parse(r.stdout).threads[0].frames;
      }
      expect(frames[0]).toMatchObject({
        kind: 'jit',
        locals: null,
        localsUnavailable: 'running inside a JIT trace',
      });
      expect(frames[1].locals!.map((v) => v.name)).toEqual(['x', 'here']);
    },
    SLOW_MACHINE_MS,
  );
});

describe.each(RUNTIMES.filter((r) => r.name === 'lua5.2' || r.name === 'lua5.4'))(
  'global names on $name',
  (rt) => {
    it(
      'names a C function found through _G as the other releases do, the traceback text as the release prints it',
      async () => {
        const nameFile = join(tempDir(), 'name.txt');
        const child = startLua(rt.argv0, 'global-names.lua', [nameFile]);
        children.push(child);
        // A global that lua_next visits after _G, whose C function runs called from C (pcall).
        const name = (await waitForFile(nameFile)).trim();
        expect(name).toMatch(/^held\d+$/);
        const r = await luaprof(['dump', '-p', String(child.pid), '--locals', '--json']);
        expect(r.status).toBe(0);
        const frames: JsonFrame[] = JSON.parse(r.stdout).threads[0].frames;
        expect(frames.filter((f) => f.kind === 'c').map((f) => f.name)).toContain(name);
        const main = frames.find((f) => f.name === 'main chunk')!;
        expect(main.locals!.find((v) => v.name === 'held')!.value).toBe(`function: builtin '${name}'`);
        // debug.traceback's own words: 5.2 says "_G.held…" there.
        const text = await luaprof(['dump', '-p', String(child.pid)]);
        const said = rt.name === 'lua5.2' ? `_G.${name}` : name;
        expect(text.stdout).toContain(`[C]: in function '${said}'\n`);
        child.kill();
      },
      SLOW_MACHINE_MS,
    );
  },
);

/** fixtures/hosts/cfuncs.c built against each Lua that ships headers and a shared library here. */
const HOST_BUILDS = [
  { lua: '5.1', include: '/usr/include/lua5.1', lib: 'lua5.1' },
  { lua: '5.2', include: '/usr/include/lua5.2', lib: 'lua5.2' },
  { lua: '5.3', include: '/usr/include/lua5.3', lib: 'lua5.3' },
  { lua: '5.4', include: '/usr/include/lua5.4', lib: 'lua5.4' },
  { lua: 'LuaJIT', include: '/usr/include/luajit-2.1', lib: 'luajit-5.1' },
].filter((b) => existsSync('/usr/bin/gcc') && existsSync(join(b.include, 'lua.h')));

describe.each(HOST_BUILDS)('dump --locals in a host on Lua $lua', (b) => {
  it(
    "names C functions package.loaded does not list by their symbol, the others by Lua's name",
    async () => {
      const dir = tempDir();
      const bin = join(dir, 'cfuncs');
      const src = join(ROOT, 'fixtures/hosts/cfuncs.c');
      execFileSync('gcc', ['-O2', '-g', '-o', bin, src, `-I${b.include}`, `-l${b.lib}`]);
      const ready = join(dir, 'ready');
      const child = spawn(bin, [ready], { stdio: 'ignore' });
      children.push(child);
      await waitForFile(ready);
      const r = await luaprof(['dump', '-p', String(child.pid), '--locals', '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const hold: JsonFrame = JSON.parse(r.stdout).threads[0].frames.find((f: JsonFrame) => f.kind === 'lua');
      const v = new Map(hold.locals!.map((l) => [l.name, l.value]));
      // Static functions of the host (its .symtab): one passed in, one a C closure with an upvalue.
      expect(v.get('hidden')).toBe('function: builtin host_hidden');
      expect(v.get('counter')).toBe('function: builtin host_counter');
      // string.gmatch's iterator in Debian's stripped library: module and function start, no export's name.
      expect(v.get('iter')).toMatch(/^function: builtin lib\S+\.so[.0-9]*\+0x[0-9a-f]+$/);
      // Functions package.loaded lists keep Lua's name (5.1's tracebacks search no table: symbols).
      if (b.lua === '5.1') {
        expect(v.get('named')).toBe('function: builtin host_named');
        expect(v.get('p')).toMatch(/^function: builtin liblua5\.1\S*\+0x[0-9a-f]+$/);
      } else {
        expect(v.get('named')).toBe("function: builtin 'host_named'");
        expect(v.get('p')).toBe("function: builtin 'print'");
      }
      child.kill();
    },
    SLOW_MACHINE_MS,
  );
});

describe('terminal output is inert', () => {
  it(
    'dump escapes control bytes in chunk and function names, text and JSON',
    async () => {
      const rt = RUNTIMES.find((r) => r.name === 'lua5.4') ?? RUNTIMES[0];
      const child = startLua(rt.argv0, 'hostile-names.lua');
      children.push(child);
      await new Promise((r) => setTimeout(r, 300));
      const text = await luaprof(['dump', '-p', String(child.pid), '--locals']);
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('\\x1b[2J\\x1b[31mRED\\x1b]0;pwned\\x07\\x9b\\xff');
      expect(text.stdout).not.toMatch(LIVE_CONTROL);
      const json = await luaprof(['dump', '-p', String(child.pid), '--json']);
      expect(json.status).toBe(0);
      expect(json.stdout).not.toMatch(LIVE_CONTROL);
    },
    SLOW_MACHINE_MS,
  );
});
