#!/usr/bin/env bash
# Finds luaV_execute in Debian's stripped Lua builds (sampler/native/known-functions.ts): compiles
# lvm.c from the package's source (.cache/lua-src, fetched by scripts/layouts) with the flags its
# debian/rules passes (dpkg-buildflags + the Makefile's defines), then looks for the function's bytes
# in the packaged library and interpreter, masking the bytes its relocations fill in. Prints
# "file build-id start size" for each exact, single match. Lua 5.1's build did not match (another
# compiler setup): it has no entry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.cache/lua-src" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
for v in 5.2 5.3 5.4; do
  case $v in
    5.2) defs="-DLUA_COMPAT_ALL -DLUA_USE_LINUX" ;;
    5.3) defs="-DLUA_COMPAT_5_2 -DLUA_USE_LINUX" ;;
    5.4) defs="-DLUA_COMPAT_5_3 -DLUA_USE_LINUX" ;;
  esac
  dir=$(ls -d "$src/lua$v-bookworm"/lua$v-*/src)
  # shellcheck disable=SC2086
  gcc -std=gnu99 $defs $flags -fPIC -DPIC -c "$dir/lvm.c" -o "$tmp/lvm$v.o"
  for obj in "/usr/lib/x86_64-linux-gnu/liblua$v.so.0" "/usr/bin/lua$v"; do
    real=$(readlink -f "$obj")
    id=$(readelf -n "$real" | awk '/Build ID/ {print $3}')
    echo "$real $id $(python3 "$here/match.py" "$tmp/lvm$v.o" "$real" luaV_execute)"
  done
done
