-- A CPU-bound target that reports its own pace: recurses to a fixed Lua depth (as bench/cpu.lua), then
-- burns the same chunk of work over and over until its standard input closes, and after each chunk
-- prints the CPU seconds the process has used (os.clock(): user + system, from clock(3)). The reader
-- takes the wall time of each line as it comes (bench/overhead-windows.ts).
-- usage: lua5.4 chunks.lua [DEPTH] [CHUNK]
local depth, chunk = tonumber(arg[1] or 30), tonumber(arg[2] or 1000000)
io.stdout:setvbuf("line")

local function burn(n)
  local x = 0
  for i = 1, n do x = x + (i * 7) % 13 end
  return x
end

local function descend(level)
  if level <= 1 then
    while true do
      burn(chunk)
      -- a closed pipe ends the write with an error, and the program with it
      io.stdout:write(string.format("%.6f\n", os.clock()))
    end
  end
  descend(level - 1)
end

descend(depth - 1)
