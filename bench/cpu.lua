-- CPU-bound benchmark target: waits for a line on stdin (so the profiler can attach first), then
-- recurses to a fixed Lua depth and burns a fixed amount of work there, and prints a checksum and the
-- CPU seconds it used (os.clock(): user + system time of the whole process, from clock(3)).
-- usage: lua5.4 cpu.lua [DEPTH] [WORK]
local depth, work = tonumber(arg[1] or 28), tonumber(arg[2] or 1000)
io.read()

local function burn(n)
  local x = 0
  for i = 1, n do x = x + (i * 7) % 13 end
  return x
end

local function descend(level, n)
  if level <= 1 then
    local s = 0
    for _ = 1, n do s = s + burn(100000) end
    return s
  end
  local r = descend(level - 1, n)
  return r
end

print("checksum", descend(depth - 1, work))
print("cpu", string.format("%.6f", os.clock()))
