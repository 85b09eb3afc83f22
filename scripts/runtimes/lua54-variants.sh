#!/usr/bin/env bash
# Builds two altered PUC Lua 5.4.9 interpreters for the layout check's end-to-end test
# (test/e2e-layout-check.test.ts), from the same Debian sid source tree as scripts/runtimes/lua54.sh:
#
#   lua5.4.10-patched  5.4.9 whose version strings say 5.4.10 (LUA_VERSION_RELEASE): a release newer than
#                      luaprof knows, with 5.4.9's structures → read with the nearest layout, after the check
#   lua5.4.9-shifted   5.4.9 with a field added to TString after its hash (u.hnext and the contents move by
#                      8 bytes): a build whose structures differ from its release's headers where finding
#                      the main state does not look → refused by the check (the string table)
#     → .cache/runtimes/<name>/bin/<name>
#
# usage: scripts/runtimes/lua54-variants.sh     (run by scripts/setup.sh's loop over scripts/runtimes/)
# Idempotent: a variant whose interpreter is present and reports what it should is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

log() { printf '\033[1mlua54-variants:\033[0m %s\n' "$*" >&2; }

# build NAME EXPECTED_V PATCH_FN: copies 5.4.9's sources, applies PATCH_FN in the copy, builds like lua54.sh.
build() {
  local name=$1 expected=$2 patch=$3
  local prefix=$ROOT/.cache/runtimes/$name bin=$ROOT/.cache/runtimes/$name/bin/$name
  if [ -x "$bin" ] && [ -e "$prefix/.patched-$patch" ] && "$bin" -v 2>&1 | grep -q "^$expected "; then
    log "$name: already built ($bin)"
    return 0
  fi
  local t0=$SECONDS src work
  src=$(bash "$ROOT/scripts/runtimes/lua54.sh" --source 5.4.9) || return 1
  work=$(mktemp -d)
  cp "$src"/src/*.c "$src"/src/*.h "$work"/
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n#endif\n' > "$work/lua5.4-deb-multiarch.h"
  rm -f "$work/luac.c" "$work/onelua.c"
  "$patch" "$work" || { rm -rf "$work"; log "$name: patch failed"; return 1; }
  local cflags=(-std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
  (cd "$work" && printf '%s\n' ./*.c | xargs -P "$(nproc)" -I{} gcc "${cflags[@]}" -c {} \
    && gcc -o "$name" ./*.o -Wl,-E -lm -ldl) || { rm -rf "$work"; log "$name: build failed"; return 1; }
  mkdir -p "$prefix/bin"
  install -m 0755 "$work/$name" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  rm -rf "$work" "$prefix"/.patched-*
  touch "$prefix/.patched-$patch"
  "$bin" -v 2>&1 | grep -q "^$expected " || { log "$name: $bin says $("$bin" -v 2>&1), not $expected"; return 1; }
  log "$name: built in $((SECONDS - t0)) s: $("$bin" -v 2>&1)"
}

as_5_4_10() { # the release number in lua.h (LUA_RELEASE, $LuaVersion and lua_ident follow it)
  sed -i -e 's/^#define LUA_VERSION_RELEASE\t"9"$/#define LUA_VERSION_RELEASE\t"10"/' \
    -e 's/^#define LUA_VERSION_RELEASE_NUM\t\t(LUA_VERSION_NUM \* 100 + 9)$/#define LUA_VERSION_RELEASE_NUM\t\t(LUA_VERSION_NUM * 100 + 10)/' "$1/lua.h"
  grep -q '^#define LUA_VERSION_RELEASE	"10"$' "$1/lua.h" && grep -q '100 + 10)$' "$1/lua.h"
}

shifted_tstring() { # one more field in TString, after hash
  awk '/^typedef struct TString \{/ {t = 1}
       t && /^  unsigned int hash;/ {print; print "  unsigned int luaprof_shift;  /* moves u and contents by 8 bytes */"; t = 0; next}
       {print}' "$1/lobject.h" > "$1/lobject.h.new" && mv "$1/lobject.h.new" "$1/lobject.h"
  grep -q 'luaprof_shift' "$1/lobject.h"
}

build lua5.4.10-patched "Lua 5.4.10" as_5_4_10
build lua5.4.9-shifted "Lua 5.4.9" shifted_tstring
