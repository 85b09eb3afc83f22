#!/usr/bin/env bash
# Builds Lua 5.4.7 from Debian trixie's lua5.4 source package into .cache/runtimes/lua5.4.7/
# (interpreter: .cache/runtimes/lua5.4.7/bin/lua5.4.7). Idempotent; a no-op when already built.
# Run as root by scripts/setup.sh on Debian bookworm (needs network access to deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PREFIX=$ROOT/.cache/runtimes/lua5.4.7
BIN=$PREFIX/bin/lua5.4.7

if [ -x "$BIN" ] && "$BIN" -v 2>&1 | grep -q 'Lua 5\.4\.7'; then
  exit 0
fi

# shellcheck source=../layouts/debian-source.sh
source "$ROOT/scripts/layouts/debian-source.sh"
SRC=$(fetch_debian_source lua5.4 trixie "$ROOT/.cache/lua-src/lua5.4-trixie")
case "$SRC" in *5.4.7*) ;; *) echo "lua547.sh: trixie's lua5.4 is not 5.4.7 ($SRC)" >&2; exit 1 ;; esac

BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
cp "$SRC"/src/*.c "$SRC"/src/*.h "$BUILD"/
# Debian's luaconf.h includes a generated multiarch header.
printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n#endif\n' > "$BUILD/lua5.4-deb-multiarch.h"
rm -f "$BUILD/luac.c" "$BUILD/onelua.c"
# Like Debian's build: -O2 -g, the core linked into the executable, exported API (-Wl,-E) for C modules.
(cd "$BUILD" && gcc -std=gnu99 -O2 -g -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX -o lua5.4.7 ./*.c -Wl,-E -lm -ldl)
mkdir -p "$PREFIX/bin"
install -m 0755 "$BUILD/lua5.4.7" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
"$BIN" -v
