#!/usr/bin/env node
/**
 * luaprof's entry point. A command that samples starts its sampling worker first, so that the
 * sampler's modules load while the command line's do (cli/program.ts): both come before the first
 * sample.
 */
import { prewarmWorker } from '../sampler/worker-start.js';

const SAMPLING_COMMANDS = ['record', 'top'];
if (SAMPLING_COMMANDS.includes(process.argv[2] ?? '') && !process.argv.includes('--help')) prewarmWorker();
await import('./program.js');
