/**
 * Kill trials (issue 13), the long run of test/e2e-kill-trials.test.ts: luaprof SIGKILLed at random
 * moments N times (100 Hz and 5000 Hz, default, --blocking and --native), the target SIGKILLed
 * mid-recording M times; after each, the target must be neither stopped nor traced, and luaprof must
 * have written its profile and exited 9 when its target died. Prints the counts (RESULTS.md).
 *
 *     npm run build && node dist/bench/kill-trials.js [--luaprof-kills 1000] [--target-kills 200] [--parallel 3] [--seed 13]
 */
import { parseArgs } from 'node:util';
import { runKillTrials } from '../testkit/kill-trials.js';

const USAGE =
  'usage: node dist/bench/kill-trials.js [--luaprof-kills 1000] [--target-kills 200] [--parallel 3] [--seed 13]';
// Strict: an unknown option or a bad number must not start a run of an hour with the defaults.
let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      'luaprof-kills': { type: 'string' },
      'target-kills': { type: 'string' },
      parallel: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function arg(name: string, dflt: number): number {
  const v = values[name];
  if (typeof v !== 'string') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} wants a whole number, not ${JSON.stringify(v)}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const summary = await runKillTrials({
  luaprofKills: arg('luaprof-kills', 1000),
  targetKills: arg('target-kills', 200),
  parallel: arg('parallel', 3),
  seed: arg('seed', 13),
  onProgress: (l) => process.stderr.write(`${l}\n`),
});
console.log(
  `${summary.luaprofKills} luaprof kills (${summary.luaprofKillsWhileSampling} while sampling, the rest while attaching), ` +
    `${summary.targetKills} target kills in ${summary.seconds.toFixed(0)} s: ` +
    `targets left stopped ${summary.stopped}, left traced ${summary.traced}; ` +
    `target kills without a written profile and exit 9 (or 10: no Lua sample yet, ${summary.noLuaSample}) ${summary.lostOrWrongCode}`,
);
for (const f of summary.failures.slice(0, 30)) console.log(`  FAIL ${f}`);
const ok = summary.stopped === 0 && summary.traced === 0 && summary.lostOrWrongCode === 0;
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
