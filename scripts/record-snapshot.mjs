#!/usr/bin/env node
// Records the memory a PUC Lua capture + resolve reads from a live interpreter running
// fixtures/lua/oracle.lua, with the program's own traceback, as a replayable SnapshotMemory fixture.
// usage: node scripts/record-snapshot.mjs <interpreter> <version> <out.json>   (after npm run build)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingMemory } from '../dist/sampler/os/memory.js';
import { RemoteMemory } from '../dist/sampler/os/remote-memory.js';
import { readMaps } from '../dist/sampler/os/procfs.js';
import { luaBinaries } from '../dist/sampler/lua/detect.js';
import { layoutFor } from '../dist/sampler/lua/layouts.js';
import { locateMainState } from '../dist/sampler/lua/locate.js';
import { PucCapture } from '../dist/sampler/lua/puc/capture.js';
import { PucResolver } from '../dist/sampler/lua/puc/resolve.js';
import { tracebackLine } from '../dist/sampler/lua/frames.js';
import { pauseThread } from '../dist/sampler/pause.js';

const [interp, version, out] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'snap-'));
const tb = join(dir, 'tb.txt');
const child = spawn(interp, ['oracle.lua', tb], { cwd: new URL('../fixtures/lua/', import.meta.url).pathname, stdio: 'inherit' });
while (!existsSync(tb) || readFileSync(tb, 'utf8').length === 0) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 100));
const layout = layoutFor(version);
const rec = new RecordingMemory(new RemoteMemory(child.pid));
const main = locateMainState(rec, layout, readMaps(child.pid), luaBinaries(child.pid));
const cap = new PucCapture(layout);
let raw;
let frames;
for (let i = 0; i < 50; i++) {
  raw = pauseThread(child.pid, () => cap.capture(rec, main.L, main.G)).value;
  cap.fill(rec, raw);
  frames = new PucResolver(rec, layout, main.G).resolve(raw).frames;
  if (frames[0]?.kind === 'lua') break;
}
child.kill('SIGKILL');
const expected = readFileSync(tb, 'utf8').split('\n').filter((l) => l.startsWith('\t')).map((l) => l.slice(1));
writeFileSync(out, JSON.stringify({ version, L: main.L, G: main.G, traceback: expected, dumped: frames.map(tracebackLine), regions: rec.snapshot().toJSON() }));
console.log(`wrote ${out}: ${frames.length} frames`);
