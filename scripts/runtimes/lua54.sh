#!/usr/bin/env bash
# Builds PUC Lua 5.4.x interpreters from Debian's lua5.4 source packages, one per suite:
#
#   5.4.2 from bullseye, 5.4.7 from trixie, 5.4.9 from sid
#     → .cache/runtimes/lua5.4.N/bin/lua5.4.N (the test matrix's extra PUC runtimes, test/helpers/runtimes.ts)
#
# usage: scripts/runtimes/lua54.sh [5.4.N …]     (no argument: every release above)
# Idempotent: a release whose interpreter is present and reports its version is not rebuilt. Fails
# when a suite's lua5.4 is not the expected release (the list below then needs updating, together with
# the layouts, sampler/lua/versions/generated.ts). Run as root by scripts/setup.sh on Debian bookworm;
# sources come from deb.debian.org through scripts/layouts/debian-source.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

# release → Debian suite whose lua5.4 source package is that release
declare -A SUITE=([5.4.2]=bullseye [5.4.7]=trixie [5.4.9]=sid)
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(5.4.2 5.4.7 5.4.9)

log() { printf '\033[1mlua54:\033[0m %s\n' "$*" >&2; }

built() { # built BIN VERSION: the interpreter is there and says it is that release
  [ -x "$1" ] && "$1" -v 2>&1 | grep -q "^Lua ${2//./\\.} "
}

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"

build() {
  local version=$1 suite=${SUITE[$1]:-}
  [ -n "$suite" ] || { log "unknown release $version (known: ${!SUITE[*]})"; return 1; }
  local prefix=$ROOT/.cache/runtimes/lua$version
  local bin=$prefix/bin/lua$version
  if built "$bin" "$version"; then
    log "$version: already built ($bin)"
    return 0
  fi
  local t0=$SECONDS src release
  src=$(fetch_debian_source lua5.4 "$suite" "$ROOT/.cache/lua-src/lua5.4-$suite")
  release=$(sed -n 's/^#define LUA_VERSION_RELEASE[[:space:]]*"\([0-9]*\)".*/5.4.\1/p' "$src/src/lua.h")
  if [ "$release" != "$version" ]; then
    log "$suite's lua5.4 is ${release:-unknown} ($src), not $version: update SUITE in $0"
    return 1
  fi
  log "$version: building from $(debian_source_origin "$(dirname "$src")")"
  local work
  work=$(mktemp -d)
  cp "$src"/src/*.c "$src"/src/*.h "$work"/
  # Debian's luaconf.h includes a generated multiarch header.
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n#endif\n' > "$work/lua5.4-deb-multiarch.h"
  rm -f "$work/luac.c" "$work/onelua.c"
  # Like Debian's build: -O2 -g, the core linked into the executable, exported API (-Wl,-E) for C
  # modules. One object per source file, compiled in parallel.
  local cflags=(-std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX)
  (cd "$work" && printf '%s\n' ./*.c | xargs -P "$(nproc)" -I{} gcc "${cflags[@]}" -c {} \
    && gcc -o "lua$version" ./*.o -Wl,-E -lm -ldl) || { rm -rf "$work"; log "$version: build failed"; return 1; }
  mkdir -p "$prefix/bin"
  install -m 0755 "$work/lua$version" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
  built "$bin" "$version" || { log "$version: $bin does not report Lua $version: $("$bin" -v 2>&1)"; return 1; }
  log "$version: built in $((SECONDS - t0)) s: $("$bin" -v 2>&1)"
}

for v in "${RELEASES[@]}"; do build "$v"; done
