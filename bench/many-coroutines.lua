-- Many live coroutines, resumed one after another from Lua, each for ~40 µs: each sample's walk reads
-- a different coroutine's state, call records and stack, and a plan made of recent walks holds few
-- of them (bench/RESULTS.md, session 26).   usage: lua5.4 bench/many-coroutines.lua [N] [SECONDS]
local n = tonumber(arg[1] or 200)
local seconds = tonumber(arg[2] or 2)
local clock = os.clock

local function work(k)
  local x = 0
  for i = 1, 3000 do x = x + i % k end
  return x
end

local function body(k)
  while true do
    k = coroutine.yield(work(k))
  end
end

local cos = {}
for i = 1, n do cos[i] = coroutine.create(body) end
local t0 = clock()
local acc = 0
while clock() - t0 < seconds do
  for i = 1, n do
    local _, v = coroutine.resume(cos[i], i + 1)
    acc = acc + v
  end
end
io.write(string.format("many-coroutines: %d\n", acc % 1000))
