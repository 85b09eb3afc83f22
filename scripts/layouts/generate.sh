#!/usr/bin/env bash
# Generates sampler/lua/versions/generated.ts: the PucLayout table of every PUC Lua release luaprof
# reads, from offsetof()/sizeof() probes (probe.c) compiled against each release's own headers and
# lopcodes.c, plus facts read from its ltm.c, ldebug.c, lauxlib.c and lstring.c (assemble.mjs).
#
# Sources: Debian source packages (bookworm: lua5.1 5.1.5, lua5.2 5.2.4, lua5.3 5.3.6, lua5.4 5.4.4;
# bullseye: lua5.4 5.4.2; trixie: lua5.4 5.4.7; sid: lua5.4 5.4.9) and, for 5.4.8, which no suite lists,
# the upstream tarball Debian's pool still holds (its SHA-256 pinned in scripts/runtimes/lua54.sh),
# fetched into .cache/lua-src/ (never committed; scripts/layouts/debian-source.sh). Releases without a
# Debian source (5.4.0, 5.4.1, 5.4.3, 5.4.5, 5.4.6) are derived in assemble.mjs from a generated table
# and the documented differences; set LUA_GIT=/path/to/lua/lua.git (a clone of github.com/lua/lua with its tags) to also
# probe the 5.4 tags' headers, fail if a derived table differs from its tag's (or a generated table
# from the tag of the same release), and record the check in the derived table's provenance. The
# committed generated.ts was made with LUA_GIT.
#
# Needs root (apt-get source / update) the first time, gcc, node. Usage: scripts/layouts/generate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source "$ROOT/scripts/layouts/debian-source.sh"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/stub"
for v in 5.1 5.2 5.3 5.4; do
  # Debian's luaconf.h includes a generated multiarch header.
  printf '#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n' > "$WORK/stub/lua$v-deb-multiarch.h"
done

probe() { # probe SRC_DIR OUT_PREFIX ORIGIN
  local src=$1 out=$2 origin=$3
  gcc -std=gnu11 -w -I"$WORK/stub" -I"$src" "$ROOT/scripts/layouts/probe.c" "$src/lopcodes.c" -o "$WORK/probe.bin"
  "$WORK/probe.bin" > "$out.json"
  cp "$src/ltm.c" "$out.ltm.c"
  cp "$src/ldebug.c" "$out.ldebug.c"
  cp "$src/lauxlib.c" "$out.lauxlib.c"
  cp "$src/lstring.c" "$out.lstring.c"
  [ -f "$src/ldblib.c" ] && cp "$src/ldblib.c" "$out.ldblib.c"
  echo "$origin" > "$out.origin"
}

mkdir -p "$WORK/gen"
for spec in lua5.1:bookworm lua5.2:bookworm lua5.3:bookworm lua5.4:bullseye lua5.4:bookworm lua5.4:trixie lua5.4:sid; do
  pkg=${spec%%:*}; suite=${spec#*:}
  tree=$(fetch_debian_source "$pkg" "$suite" "$ROOT/.cache/lua-src/$pkg-$suite")
  probe "$tree/src" "$WORK/gen/$pkg-$suite" "$(debian_source_origin "$(dirname "$tree")")"
done
# Releases lua54.sh fetches from Debian's pool by pinned SHA-256 (no suite's Sources index lists them).
for release in 5.4.8; do
  tree=$(bash "$ROOT/scripts/runtimes/lua54.sh" --source "$release")
  probe "$tree/src" "$WORK/gen/lua5.4-pool-$release" "$(debian_source_origin "$(dirname "$tree")")"
done

if [ -n "${LUA_GIT:-}" ]; then
  mkdir -p "$WORK/check"
  # Every 5.4 release tag: the derived releases, and the generated ones as a cross-check.
  for tag in $(git -C "$LUA_GIT" tag --list 'v5.4.*' | grep -E '^v5\.4\.[0-9]+$'); do
    mkdir -p "$WORK/tags/$tag"
    git -C "$LUA_GIT" archive "$tag" | tar -x -C "$WORK/tags/$tag"
    probe "$WORK/tags/$tag" "$WORK/check/$tag" "lua/lua git tag $tag"
  done
fi

node "$ROOT/scripts/layouts/assemble.mjs" "$WORK/gen" "${LUA_GIT:+$WORK/check}" > "$WORK/generated.ts"
mv "$WORK/generated.ts" "$ROOT/sampler/lua/versions/generated.ts"
echo "wrote sampler/lua/versions/generated.ts" >&2
