#!/usr/bin/env node
// Records, for each PUC runtime of the matrix, the memory one capture + resolve reads from a live
// interpreter running fixtures/lua/matrix/oracle.lua (pcall mode), with the program's own traceback,
// as a replayable SnapshotMemory fixture: fixtures/snapshots/puc-<name>.json.
// usage: npm run build && node scripts/layouts/record-snapshots.mjs [name…]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingMemory } from '../../dist/sampler/os/memory.js';
import { RemoteMemory } from '../../dist/sampler/os/remote-memory.js';
import { readMaps } from '../../dist/sampler/os/procfs.js';
import { luaBinaries, detectLua } from '../../dist/sampler/lua/detect.js';
import { layoutFor } from '../../dist/sampler/lua/layouts.js';
import { locateMainState } from '../../dist/sampler/lua/locate.js';
import { PucCapture } from '../../dist/sampler/lua/puc/capture.js';
import { PucResolver } from '../../dist/sampler/lua/puc/resolve.js';
import { tracebackLine } from '../../dist/sampler/lua/frames.js';
import { pauseThread } from '../../dist/sampler/pause.js';

const root = new URL('../../', import.meta.url).pathname;
const RUNTIMES = {
  'lua5.1': '/usr/bin/lua5.1',
  'lua5.2': '/usr/bin/lua5.2',
  'lua5.3': '/usr/bin/lua5.3',
  'lua5.4': '/usr/bin/lua5.4',
  'lua5.4.2': join(root, '.cache/runtimes/lua5.4.2/bin/lua5.4.2'),
  'lua5.4.7': join(root, '.cache/runtimes/lua5.4.7/bin/lua5.4.7'),
  'lua5.4.8': join(root, '.cache/runtimes/lua5.4.8/bin/lua5.4.8'),
  'lua5.4.9': join(root, '.cache/runtimes/lua5.4.9/bin/lua5.4.9'),
};
const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(RUNTIMES);

for (const name of names) {
  const dir = mkdtempSync(join(tmpdir(), 'snap-'));
  const tb = join(dir, 'tb.txt');
  const child = spawn(RUNTIMES[name], ['oracle.lua', 'pcall', tb], { cwd: join(root, 'fixtures/lua/matrix'), stdio: 'inherit' });
  while (!existsSync(tb) || readFileSync(tb, 'utf8').length === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  const version = detectLua(child.pid).version;
  const layout = layoutFor(version);
  const remote = new RemoteMemory(child.pid);
  // Locating the state scans data segments: not part of the snapshot (tests pass L and G).
  const main = locateMainState(remote, layout, readMaps(child.pid), luaBinaries(child.pid));
  let rec;
  let frames;
  for (let i = 0; i < 50; i++) {
    rec = new RecordingMemory(remote);
    const cap = new PucCapture(layout);
    const raw = pauseThread(child.pid, () => cap.capture(rec, main.L, main.G)).value;
    cap.fill(rec, raw);
    frames = new PucResolver(rec, layout, main.G, () => 0).resolve(raw).frames;
    if (frames[0]?.kind === 'lua') break;
  }
  child.kill('SIGKILL');
  const expected = readFileSync(tb, 'utf8').split('\n').filter((l) => l.startsWith('\t')).map((l) => l.slice(1));
  const out = join(root, `fixtures/snapshots/puc-${name}.json`);
  const doc = { runtime: name, version, L: main.L, G: main.G, traceback: expected, dumped: frames.map(tracebackLine), regions: rec.snapshot().toJSON() };
  writeFileSync(out, JSON.stringify(doc));
  console.log(`wrote ${out}: ${frames.length} frames, ${JSON.stringify(doc).length} bytes`);
}
