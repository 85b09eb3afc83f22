// Assembles sampler/lua/versions/generated.ts from the probe output of each release (see generate.sh).
//   node assemble.mjs GEN_DIR [CHECK_DIR]   → TypeScript on stdout
// GEN_DIR holds, per probed source tree, NAME.json (probe.c output), NAME.ltm.c, NAME.ldebug.c,
// NAME.lauxlib.c, NAME.lstring.c and NAME.origin. Facts that are behaviour rather than layout
// (metamethod names, how ldebug.c names functions, how luaL_traceback prints them, how lstring.c
// hashes strings) are read from those sources too.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [genDir, checkDir] = process.argv.slice(2);

function fail(msg) {
  console.error(`assemble.mjs: ${msg}`);
  process.exit(1);
}

/** luaT_eventname[] of ltm.c, in TMS order, without the "__" prefix. */
function tmNames(ltm) {
  const m =
    /luaT_eventname\[\]\s*=\s*\{[^}]*?\*\/([\s\S]*?)\}/.exec(ltm) ??
    /luaT_eventname\[\]\s*=\s*\{([\s\S]*?)\}/.exec(ltm);
  if (!m) fail('no luaT_eventname in ltm.c');
  const names = [...m[1].matchAll(/"__(\w+)"/g)].map((x) => x[1]);
  if (names.length < 17) fail(`luaT_eventname has ${names.length} names`);
  return names;
}

function fn(src, name) {
  const re = new RegExp(`^(?:static|LUALIB_API)[^\\n]*\\b${name}\\s*\\([\\s\\S]*?^\\}`, 'm');
  return re.exec(src)?.[0] ?? null;
}

/** Does isEnv/gxf reject a register name that is not a local's or an upvalue's? */
function envVariableOnly(isEnv) {
  if (!isEnv) return false; // 5.1-5.3: no such function (5.2/5.3 only ever look at local names)
  // The register branch: the kind basicgetobjname/getobjname returned, compared with both
  // "local" and "upvalue" (by string or by the strlocal/strupval constants), the name dropped otherwise.
  const kinds = /(\w+)\s*!=\s*(strlocal|"local")\s*&&\s*\1\s*!=\s*(strupval|"upvalue")/.exec(isEnv);
  const found =
    kinds !== null && new RegExp(`\\b${kinds[1]}\\s*=\\s*(?:basic)?getobjname\\s*\\(`).test(isEnv);
  // A rewritten check must not pass for the old rule unnoticed.
  if (!found && /strlocal|strupval|name\s*=\s*NULL/.test(isEnv))
    fail(`isEnv/gxf filters names in a way assemble.mjs does not recognise:\n${isEnv}`);
  return found;
}

/** How ldebug.c names a called function. */
function nameRules(family, ldebug) {
  const getfuncname = fn(ldebug, 'getfuncname');
  if (!getfuncname) fail('no getfuncname in ldebug.c');
  return {
    // 5.4.4+: CIST_FIN/CIST_HOOKED are read on the caller (funcnamefromcall); 5.3-5.4.3 read FIN on the callee.
    finOnCallee: /ci->callstatus & CIST_FIN/.test(getfuncname),
    // 5.4.7+: isEnv names the indexed table with basicgetobjname (no table accesses).
    isEnvBasic: /basicgetobjname/.test(ldebug),
    // 5.4.8+: isEnv (gxf before 5.4.7) drops a register's name unless basicgetobjname found a local or
    // an upvalue ("if (what != strlocal && what != strupval) name = NULL"): a string constant "_ENV"
    // no longer makes an access global.
    envVariableOnly: envVariableOnly(fn(ldebug, 'isEnv') ?? fn(ldebug, 'gxf')),
    // 5.4: metamethod names without "__" ("tmname[tm]) + 2").
    metamethodStripped: /tmname\[tm\]\)\s*\+\s*2/.test(ldebug),
    // 5.2: findsetreg treats OP_TEST as changing register A.
    testChangesA: /case OP_TEST:\s*\{\s*if \(reg == a\)/.test(fn(ldebug, 'findsetreg') ?? ''),
    // 5.1: symbexec (symbolic execution with jumps followed) instead of findsetreg.
    symbexec: /symbexec/.test(ldebug),
  };
}

/** How debug.traceback prints a frame (lauxlib.c pushfuncname / pushglobalfuncname, or ldblib.c in 5.1). */
function tracebackRules(lauxlib) {
  const pushfuncname = fn(lauxlib, 'pushfuncname');
  const pushglobal = fn(lauxlib, 'pushglobalfuncname');
  if (!pushfuncname)
    return { style: '5.1', globalNames: 'none', globalFirst: false, stripG: false, namewhat: false };
  if (!pushglobal) fail('pushfuncname without pushglobalfuncname');
  const globalNames = /LUA_LOADED_TABLE/.test(pushglobal)
    ? 'loaded'
    : /lua_pushglobaltable/.test(pushglobal)
      ? 'globals'
      : fail('unknown pushglobalfuncname root');
  return {
    style: 'aux',
    globalNames,
    globalFirst: /^\s*if \(pushglobalfuncname\(L, ar\)\)/m.test(
      pushfuncname.split('\n').slice(1, 3).join('\n'),
    ),
    stripG: /"_G\."|LUA_GNAME\s*"\."/.test(pushglobal),
    namewhat: /"%s '%s'", ar->namewhat/.test(pushfuncname),
  };
}

/**
 * How lstring.c hashes a short string into the string table: h = seed ^ length (5.1: the length
 * alone), then h ^= (h<<5) + (h>>2) + byte for bytes from the last, every byte or, with `limit`,
 * every ((length >> limit) + 1)th.
 */
function stringHash(lstring) {
  if (!/h\s*(?:=\s*h\s*)?\^=?\s*\(\(h\s*<<\s*5\)\s*\+\s*\(h\s*>>\s*2\)\s*\+\s*cast/.test(lstring))
    fail('lstring.c: no h ^ ((h<<5) + (h>>2) + c) step in the string hash');
  // 5.2+: the short-string call passes g->seed (5.4.0/5.4.1 also an explicit step).
  const call = /=\s*luaS_hash\s*\(\s*str\s*,\s*l\s*,\s*g->seed\s*(?:,\s*(\w+)\s*)?\)/.exec(lstring);
  if (call) {
    const body =
      /unsigned int luaS_hash\s*\([\s\S]*?^\}/m.exec(lstring)?.[0] ?? fail('lstring.c: no luaS_hash');
    if (call[1] === '1' || !/step/.test(body)) return { seeded: true };
    const limit = /#define LUAI_HASHLIMIT\s+(\d+)/.exec(lstring);
    if (limit && /step\s*=\s*\(l\s*>>\s*LUAI_HASHLIMIT\)\s*\+\s*1/.test(body))
      return { seeded: true, limit: Number(limit[1]) };
    fail(`lstring.c: a luaS_hash step assemble.mjs does not recognise:\n${body}`);
  }
  // 5.1: luaS_newlstr hashes inline, seeded with the length only.
  const inline =
    /h\s*=\s*cast\(unsigned int,\s*l\);\s*\/\*\s*seed\s*\*\/\s*size_t step\s*=\s*\(l\s*>>\s*(\d+)\)\s*\+\s*1/.exec(
      lstring,
    );
  if (inline) return { seeded: false, limit: Number(inline[1]) };
  return fail('lstring.c: no string hash assemble.mjs recognises');
}

function fromProbe(dir, base) {
  const p = JSON.parse(readFileSync(join(dir, `${base}.json`), 'utf8'));
  const ldebug = readFileSync(join(dir, `${base}.ldebug.c`), 'utf8');
  const lauxlib = readFileSync(join(dir, `${base}.lauxlib.c`), 'utf8');
  const layout = {
    releases: [p.release],
    family: p.family,
    provenance: { from: 'headers', source: readFileSync(join(dir, `${base}.origin`), 'utf8').trim() },
    ...p,
  };
  delete layout.release;
  if (layout.callinfo.callstatus < 0) {
    delete layout.callinfo.callstatus;
    layout.callinfo.callstatus = -1;
  }
  layout.opcodes.tmNames = tmNames(readFileSync(join(dir, `${base}.ltm.c`), 'utf8'));
  layout.names = nameRules(p.family, ldebug);
  layout.traceback = tracebackRules(lauxlib);
  layout.stringHash = stringHash(readFileSync(join(dir, `${base}.lstring.c`), 'utf8'));
  return layout;
}

const generated = readdirSync(genDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => fromProbe(genDir, f.slice(0, -5)))
  .sort((a, b) => a.releases[0].localeCompare(b.releases[0], 'en', { numeric: true }));

const byRelease = new Map(generated.map((l) => [l.releases[0], l]));
const clone = (x) => JSON.parse(JSON.stringify(x));

/**
 * Releases without a Debian source package: the nearest generated table plus the differences that
 * offsetof() probes against the release tags' headers show (cross-checked with LUA_GIT, see
 * generate.sh; also listed in shared/reference/puc-lua-offsets-x86_64.txt).
 */
const DERIVED = [
  {
    release: '5.4.0',
    base: '5.4.4',
    changes: {
      'state.stack': 56,
      'state.stack_last': 48,
      'state.base_ci': 96,
      'state.size': 200,
      'global.mainthread': 256,
      'global.tmname': 272,
      'callinfo.bits': { c: 0x2, tail: 0x10, hooked: 0x4, fin: 0x40 },
      'names.finOnCallee': true,
    },
  },
  {
    release: '5.4.1',
    base: '5.4.4',
    changes: {
      'state.base_ci': 88,
      'state.size': 192,
      'callinfo.bits': { c: 0x2, tail: 0x10, hooked: 0x4, fin: 0x40 },
      'names.finOnCallee': true,
    },
  },
  { release: '5.4.3', base: '5.4.4', changes: { 'names.finOnCallee': true } },
  { release: '5.4.5', base: '5.4.4', changes: { stkIdRel: true } },
  { release: '5.4.6', base: '5.4.4', changes: { stkIdRel: true } },
];

function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys.at(-1)] = clone(value);
}

const derived = DERIVED.map((d) => {
  const base = byRelease.get(d.base) ?? fail(`no generated ${d.base}`);
  const l = clone(base);
  l.releases = [d.release];
  l.provenance = { from: 'derived', base: d.base, changes: Object.keys(d.changes) };
  for (const [path, value] of Object.entries(d.changes)) setPath(l, path, value);
  return l;
});

const strip = (x) => {
  const c = clone(x);
  delete c.provenance;
  delete c.releases;
  return c;
};

if (checkDir) {
  // Compare each derived table with a probe of the release tag's own headers.
  for (const l of derived) {
    const tag = `v${l.releases[0]}`;
    if (!existsSync(join(checkDir, `${tag}.json`))) fail(`no probe of ${tag}`);
    const a = JSON.stringify(strip(l));
    const b = JSON.stringify(strip(fromProbe(checkDir, tag)));
    if (a !== b) fail(`derived ${l.releases[0]} differs from ${tag}'s headers:\n${a}\n${b}`);
    l.provenance.checkedAgainst = `lua/lua git tag ${tag} (offsetof probes)`;
  }
  // A release probed from a Debian source package and from its git tag must agree (Debian's patches
  // touch build files and luaconf.h's paths only).
  for (const l of generated) {
    const tag = `v${l.releases[0]}`;
    if (!existsSync(join(checkDir, `${tag}.json`))) continue;
    const a = JSON.stringify(strip(l));
    const b = JSON.stringify(strip(fromProbe(checkDir, tag)));
    if (a !== b)
      fail(`${l.releases[0]} from ${l.provenance.source} differs from ${tag}'s headers:\n${a}\n${b}`);
  }
}

const all = [...generated, ...derived].sort((a, b) =>
  a.releases[0].localeCompare(b.releases[0], 'en', { numeric: true }),
);
const out = [
  '/**',
  ' * GENERATED by scripts/layouts/generate.sh (probe.c + assemble.mjs): do not edit by hand.',
  ' * PUC Lua layouts for x86_64 with default luaconf.h, one per release. `provenance.from` says whether a',
  ' * table was probed from the release\'s own headers ("headers") or derived from another ("derived").',
  ' */',
  "import type { PucLayout } from '../puc/layout.js';",
  '',
  `export const GENERATED_LAYOUTS: PucLayout[] = ${JSON.stringify(all, null, 2)};`,
  '',
];
process.stdout.write(out.join('\n'));
