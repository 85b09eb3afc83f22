// Study (issue 9, --native without stops): does the context-switch event of os/switch-regs.ts also
// record the top of the thread's user stack at the switch-out (PERF_SAMPLE_STACK_USER), so that a
// native unwind could start from the registers and stack of the sampling instant with no ptrace stop?
//
//   node scripts/studies/switch-stack.mjs [STACK_BYTES]     (as root; default 8192)
//
// It starts a busy `lua5.4` that recurses into a C function (string.gsub calling back into Lua), opens
// PERF_COUNT_SW_CONTEXT_SWITCHES (period 1) with PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER on it,
// forces switches with a busy loop on its CPU, and reports, per switch-out record: whether it carried
// user registers and stack bytes (dyn_size), and how many 8-byte words of those bytes point into the
// text of lua5.4 or liblua (return addresses a native unwind would follow).
// Result on the dev VM (2026-12-02, 8192 bytes): 125 of 125 switch-outs carried both, 43-46 words of
// each stack pointing into lua5.4's text.
import { execSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

const STACK_BYTES = Number(process.argv[2] ?? 8192);
const SYS_PERF_EVENT_OPEN = 298;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
const PERF_SAMPLE_TID = 2;
const PERF_SAMPLE_TIME = 4;
const PERF_SAMPLE_REGS_USER = 1 << 12;
const PERF_SAMPLE_STACK_USER = 1 << 13;
const PERF_RECORD_SAMPLE = 9;
const REGS_MASK = 0x1ffn | (0xffn << 16n); // AX..IP (0-8), R8-R15 (16-23): 17 registers
const NREGS = 17;
const REG_SP = 7;
const REG_IP = 8;
const PAGE = 4096;
const DATA_PAGES = 256; // 1 MB: records are STACK_BYTES + ~180 bytes

const lib = koffi.load('libc.so.6');
const syscall = lib.func('long syscall(long, void*, int, int, int, unsigned long)');
const mmap = lib.func('void* mmap(void*, size_t, int, int, int, long)');

const lua = `local function f(n) if n == 0 then local x = 0 for i = 1, 1e5 do x = x + i end return x end
  return (string.gsub("a", "a", function() return tostring(f(n - 1)) end)) end
while true do f(8) end`;
const target = spawn('lua5.4', ['-e', lua], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
const tid = target.pid;
const text = readFileSync(`/proc/${tid}/maps`, 'utf8')
  .split('\n')
  .filter((l) => / r-xp /.test(l) && /lua/.test(l))
  .map((l) =>
    l
      .split(' ')[0]
      .split('-')
      .map((h) => BigInt('0x' + h)),
  );

const attr = Buffer.alloc(128);
attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
attr.writeUInt32LE(128, 4);
attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_CONTEXT_SWITCHES), 8);
attr.writeBigUInt64LE(1n, 16);
attr.writeBigUInt64LE(
  BigInt(PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER),
  24,
);
attr.writeBigUInt64LE(1n << 25n, 40); // use_clockid
attr.writeBigUInt64LE(REGS_MASK, 80); // sample_regs_user
attr.writeUInt32LE(STACK_BYTES, 88); // sample_stack_user
attr.writeInt32LE(1, 92); // CLOCK_MONOTONIC
const fd = Number(syscall(SYS_PERF_EVENT_OPEN, attr, tid, -1, -1, 8));
if (fd < 0) throw new Error('perf_event_open failed (root needed)');
const ringBytes = DATA_PAGES * PAGE;
const view = koffi.view(mmap(null, (1 + DATA_PAGES) * PAGE, 3, 1, fd, 0), (1 + DATA_PAGES) * PAGE);
const meta = new DataView(view, 0, PAGE);
const data = Buffer.from(view, PAGE, ringBytes);

const stat = readFileSync(`/proc/${tid}/stat`, 'utf8');
const cpu = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[39 - 3];
execSync(`taskset -p -c ${cpu} ${tid}`, { stdio: 'ignore' });
const hog = spawn('taskset', ['-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
hog.kill();
target.kill();

const head = Number(meta.getBigUint64(1024, true));
let records = 0;
let withStack = 0;
const retAddrs = [];
const rec = Buffer.alloc(65536);
for (let tail = Math.max(0, head - ringBytes); tail + 8 <= head;) {
  const at = tail % ringBytes;
  const size = data.readUInt16LE((at + 6) % ringBytes);
  if (size === 0) break;
  const first = Math.min(size, ringBytes - at);
  data.copy(rec, 0, at, at + first);
  if (first < size) data.copy(rec, first, 0, size - first);
  if (rec.readUInt32LE(0) === PERF_RECORD_SAMPLE) {
    records++;
    // header 8, pid/tid 8, time 8, abi 8, regs NREGS*8, stack size 8, stack bytes, dyn_size 8
    const abi = rec.readBigUInt64LE(24);
    const regsAt = 32;
    const sizeAt = abi ? regsAt + NREGS * 8 : 32;
    const stackSize = Number(rec.readBigUInt64LE(sizeAt));
    const dyn = stackSize ? Number(rec.readBigUInt64LE(sizeAt + 8 + stackSize)) : 0;
    if (abi && dyn > 0) {
      withStack++;
      const rip = rec.readBigUInt64LE(regsAt + 8 * REG_IP);
      const rsp = rec.readBigUInt64LE(regsAt + 8 * REG_SP);
      let inText = 0;
      for (let o = 0; o + 8 <= dyn; o += 8) {
        const w = rec.readBigUInt64LE(sizeAt + 8 + o);
        if (text.some(([lo, hi]) => w >= lo && w < hi)) inText++;
      }
      retAddrs.push(inText);
      if (withStack <= 3)
        console.log(
          `switch-out: rip 0x${rip.toString(16)} rsp 0x${rsp.toString(16)}, ${dyn} stack bytes, ${inText} words into lua's text`,
        );
    }
  }
  tail += size;
}
retAddrs.sort((a, b) => a - b);
console.log(
  `${records} switch-out records, ${withStack} with user registers and stack (${STACK_BYTES} bytes asked); ` +
    `words into lua's text per record: median ${retAddrs[retAddrs.length >> 1] ?? 0}, min ${retAddrs[0] ?? 0}`,
);
