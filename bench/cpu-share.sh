#!/usr/bin/env bash
# What a recording costs the target in CPU time (not wall time): the share of wall time a busy lua5.4
# gets (utime+stime from /proc/PID/stat) while `luaprof record -d 5s -r RATE` samples it, or while
# nothing does ("none"). Needs a built checkout (npm run build).
#   bash bench/cpu-share.sh none 100 1000
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- none 100 1000
for rate in "$@"; do
  lua5.4 -e 'local x = 0 while true do x = x + 1 end' &
  pid=$!
  sleep 0.5
  ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
  c0=$(ticks); w0=$(date +%s%N)
  if [ "$rate" = none ]; then sleep 5; else node "$ROOT/dist/cli/main.js" record -p "$pid" -d 5s -r "$rate" -o /dev/null -f folded 2>/dev/null; fi
  c1=$(ticks); w1=$(date +%s%N)
  kill "$pid"
  ticks_per_s=$(getconf CLK_TCK)
  awk -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v hz="$ticks_per_s" -v r="$rate" 'BEGIN { printf "%s: target CPU / wall = %.3f\n", r, (c / hz) / (w / 1e9) }'
done
