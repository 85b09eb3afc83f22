#!/usr/bin/env bash
# Prints the layout JSON of a LuaJIT source tree (its src/ must hold the build's headers):
#   scripts/layouts/luajit/gen.sh /path/to/luajit-tree/src
# The output goes into sampler/lua/luajit/layouts.ts as a data entry.
set -euo pipefail
SRC=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -w -I"$SRC" -o "$tmp/probe" "$(dirname "$0")/offsets.c"
"$tmp/probe"
