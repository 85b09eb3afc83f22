#!/usr/bin/env node
/**
 * luaprof's entry. A recording's first sample waits for the sampling worker's modules and for the
 * command line's: the worker is started first (for `record` and `top`), so that both load side by side.
 */
import { prewarmWorker, releasePrewarmed } from '../sampler/worker-start.js';
import { recordsFor } from './recording-commands.js';

// bin/luaprof set it aside for Node's start (see there): the processes luaprof starts get it back.
const setAside = process.env.LUAPROF_NODE_EXTRA_CA_CERTS;
if (setAside !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = setAside;
  delete process.env.LUAPROF_NODE_EXTRA_CA_CERTS;
}

// `record --help` records nothing: a worker started for it would only delay the exit until it loaded.
if (recordsFor(process.argv) && !process.argv.includes('--help')) prewarmWorker();
const { runProgram } = await import('./program.js');
const code = await runProgram(process.argv);
await releasePrewarmed();
// The CLI's only process.exit: the exit code is the contract, and nothing left behind (a worker,
// a timer) may keep the process alive after the action ended.
process.exit(code);
