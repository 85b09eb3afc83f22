#!/usr/bin/env node
// Records walker snapshots: the memory one PUC Lua capture + resolve reads from a live interpreter
// running an oracle program, with the program's own debug.traceback() and what luaprof's walker printed,
// as a replayable SnapshotMemory fixture (read by test/helpers/snapshots.ts), with what the layout
// check at attach reads (sampler/lua/puc/layout-check.ts). The fixtures:
//   puc-<runtime>.json  every PUC runtime of the matrix on fixtures/lua/matrix/oracle.lua in pcall mode
//                       (test/walker-versions-snapshots.test.ts)
//   lua544-oracle.json  lua5.4 on fixtures/lua/oracle.lua, with the reads of state discovery (the
//                       data-segment words) too (test/walker-snapshot.test.ts)
// usage (after npm run build):
//   node scripts/record-snapshots.mjs [fixture…]     fixtures/snapshots/<fixture>.json, default all of them;
//                                                    a runtime name (lua5.4.7) stands for puc-<runtime>
//   node scripts/record-snapshots.mjs --lua <interpreter> --out <file.json>
//        [--version <x.y.z>] [--program oracle|matrix] [--locate]     any interpreter, any file
//     --version: the layout to use (default: the one detected in the binary); --program: which oracle
//     (default oracle); --locate: record state discovery's reads too.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RecordingMemory } from '../dist/sampler/os/memory.js';
import { RemoteMemory } from '../dist/sampler/os/remote-memory.js';
import { readMaps } from '../dist/sampler/os/procfs.js';
import { luaBinaries, detectLua } from '../dist/sampler/lua/detect.js';
import { layoutFor } from '../dist/sampler/lua/puc/layouts.js';
import { locateMainState } from '../dist/sampler/lua/puc/locate.js';
import { PucCapture } from '../dist/sampler/lua/puc/capture.js';
import { checkLayout } from '../dist/sampler/lua/puc/layout-check.js';
import { PucResolver } from '../dist/sampler/lua/puc/resolve.js';
import { tracebackLine } from '../dist/sampler/lua/frames.js';
import { pauseThread } from '../dist/sampler/pause.js';

const root = new URL('../', import.meta.url).pathname;
const cached = (name) => join(root, `.cache/runtimes/${name}/bin/${name}`);

/** The PUC runtimes of the matrix (as in test/helpers/runtimes.ts). */
const MATRIX = {
  'lua5.1': '/usr/bin/lua5.1',
  'lua5.2': '/usr/bin/lua5.2',
  'lua5.3': '/usr/bin/lua5.3',
  'lua5.4': '/usr/bin/lua5.4',
  'lua5.4.2': cached('lua5.4.2'),
  'lua5.4.3': cached('lua5.4.3'),
  'lua5.4.6': cached('lua5.4.6'),
  'lua5.4.7': cached('lua5.4.7'),
  'lua5.4.8': cached('lua5.4.8'),
  'lua5.4.9': cached('lua5.4.9'),
};

/** How each oracle program is started: working directory and arguments (tb: the traceback file). */
const PROGRAMS = {
  oracle: (tb) => ({ cwd: join(root, 'fixtures/lua'), args: ['oracle.lua', tb] }),
  matrix: (tb) => ({ cwd: join(root, 'fixtures/lua/matrix'), args: ['oracle.lua', 'pcall', tb] }),
};

/** Every fixture in fixtures/snapshots/ this script writes, by file name without ".json". */
const FIXTURES = {
  ...Object.fromEntries(
    Object.entries(MATRIX).map(([runtime, lua]) => [`puc-${runtime}`, { lua, program: 'matrix', runtime }]),
  ),
  'lua544-oracle': { lua: MATRIX['lua5.4'], program: 'oracle', locate: true },
};

/** Bytes recorded after each read of the layout check, and from the main lua_State on. */
const CHECK_CONTEXT = 64;
const LG_BLOCK = 2048;

/** Reads through `mem`, each read also recording the `extra` bytes after it (where readable). */
function widened(mem, extra) {
  return {
    read: (addr, len) => (mem.read(addr, len + extra) ?? mem.read(addr, len))?.subarray(0, len) ?? null,
  };
}

class UsageError extends Error {}

/** Thrown, not exit(): record() kills its interpreter on the way out. */
function fail(message) {
  throw new UsageError(message);
}

/** What to record where, from the command line. */
function jobs(argv) {
  const { values: opts, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      lua: { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      program: { type: 'string', default: 'oracle' },
      locate: { type: 'boolean', default: false },
    },
  });
  if (opts.lua !== undefined) {
    if (!opts.out || positionals.length) fail('--lua needs --out <file.json> and no fixture names');
    if (!PROGRAMS[opts.program]) fail(`--program: one of ${Object.keys(PROGRAMS).join(', ')}`);
    return [
      {
        out: opts.out,
        spec: { lua: opts.lua, program: opts.program, locate: opts.locate, version: opts.version },
      },
    ];
  }
  return (positionals.length ? positionals : Object.keys(FIXTURES)).map((name) => {
    const fixture = FIXTURES[name] ? name : `puc-${name}`;
    if (!FIXTURES[fixture])
      fail(`unknown fixture ${name}: one of ${Object.keys(FIXTURES).join(', ')} (or a runtime name)`);
    return { out: join(root, `fixtures/snapshots/${fixture}.json`), spec: FIXTURES[fixture] };
  });
}

try {
  for (const { out, spec } of jobs(process.argv.slice(2))) {
    const doc = await record(spec);
    const json = JSON.stringify(doc);
    writeFileSync(out, json);
    console.log(`wrote ${out}: ${doc.dumped.length} frames, ${json.length} bytes`);
  }
} catch (e) {
  if (!(e instanceof UsageError) && !String(e?.code).startsWith('ERR_PARSE_ARGS')) throw e;
  console.error(`record-snapshots: ${e.message}`);
  process.exitCode = 1;
}

/**
 * Starts spec.lua on its oracle, waits for the traceback, and captures until the leaf frame is Lua
 * code (up to 50 tries), each try recorded afresh so that the snapshot holds one consistent view.
 */
async function record(spec) {
  if (spec.lua.startsWith('/') && !existsSync(spec.lua))
    fail(`${spec.lua}: not found (scripts/setup.sh builds the runtimes in .cache/)`);
  const dir = mkdtempSync(join(tmpdir(), 'snap-'));
  const tb = join(dir, 'tb.txt');
  const { cwd, args } = PROGRAMS[spec.program](tb);
  const child = spawn(spec.lua, args, { cwd, stdio: 'inherit' });
  let exited = null;
  child.on('exit', (code, signal) => (exited = signal ?? code));
  child.on('error', (e) => (exited = e.message));
  try {
    while (!existsSync(tb) || readFileSync(tb, 'utf8').length === 0) {
      if (exited !== null) fail(`${spec.lua} ended (${exited}) before writing its traceback`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    const version = spec.version ?? detectLua(child.pid)?.version;
    const layout = version && layoutFor(version);
    if (!layout) fail(`${spec.lua}: no layout for Lua ${version ?? '(not detected)'}`);
    const remote = new RemoteMemory(child.pid);
    const maps = readMaps(child.pid);
    const binaries = luaBinaries(child.pid);
    // Locating the state scans data segments. Most tests pass L and G: only with spec.locate is it
    // recorded, each try locating again through the recording while the thread is stopped.
    let main = locateMainState(remote, layout, maps, binaries);
    if (!main) fail(`${spec.lua}: main state not found`);
    let rec;
    let frames;
    for (let i = 0; i < 50; i++) {
      rec = new RecordingMemory(remote);
      const cap = new PucCapture(layout);
      const raw = pauseThread(child.pid, () => {
        if (spec.locate)
          main = locateMainState(rec, layout, maps, binaries) ?? fail(`${spec.lua}: main state lost`);
        // What the layout check at attach reads (global_State, the registry, a sample of the
        // string table), for test/layout-check.test.ts: each read with the bytes that follow it, and
        // the whole lua_State + global_State block, so that the layout of another release reads what
        // the process held there rather than a hole in the snapshot.
        const check = checkLayout(widened(rec, CHECK_CONTEXT), layout, main.L, main.G);
        if (check.failed) fail(`${spec.lua}: the layout check fails: ${check.failed}`);
        rec.read(main.L, LG_BLOCK);
        return cap.capture(rec, main.L, main.G);
      }).value;
      cap.fill(rec, raw);
      frames = new PucResolver(rec, layout, main.G, () => 0).resolve(raw).frames;
      if (frames[0]?.kind === 'lua') break;
    }
    const expected = readFileSync(tb, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('\t'))
      .map((l) => l.slice(1));
    return {
      runtime: spec.runtime,
      version,
      L: main.L,
      G: main.G,
      traceback: expected,
      dumped: frames.map(tracebackLine),
      regions: rec.snapshot().toJSON(),
    };
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
