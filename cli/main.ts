#!/usr/bin/env node
/**
 * luaprof's entry point; the command line is cli/program.ts. A worker started here, before the
 * command line loads (to load the sampler beside it), was removed: a command that failed at once
 * exited while that worker was still loading koffi's addon, and Node aborted ("FATAL ERROR: napi_throw").
 */
await import('./program.js');
