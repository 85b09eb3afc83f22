// Study (issue 9, next step): does a perf software event sampling every context switch of a thread
// record that thread's *user* registers at the switch-out, without ptrace? If so, the sampler's
// wake-up on the thread's CPU (sampler/os/affinity.ts) gives registers at the sampling instant:
// LuaJIT's BASE (rdx/rbp/rbx in the interpreter) and --native's registers, with no stop.
//
//   node scripts/studies/switch-regs.mjs       (as root: the sample is taken in kernel mode, so
//                                                exclude_kernel must stay 0)
//
// It starts a busy `lua5.4`, opens PERF_COUNT_SW_CONTEXT_SWITCHES with sample_period 1 and
// PERF_SAMPLE_REGS_USER on it, forces switches with a busy shell loop on the same CPU, and prints how
// many switch-out samples carried 64-bit user registers whose rip lies in user space.
// Result on the dev VM (2026-12-01): 65 of 65 samples, rip inside lua5.4's text, rsp on its stack.
import { execSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

const SYS_PERF_EVENT_OPEN = 298;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
const PERF_SAMPLE_IP = 1;
const PERF_SAMPLE_TID = 2;
const PERF_SAMPLE_TIME = 4;
const PERF_SAMPLE_REGS_USER = 1 << 12;
const PERF_RECORD_SAMPLE = 9;
const PERF_SAMPLE_REGS_ABI_64 = 2n;
// x86 perf_regs: AX BX CX DX SI DI BP SP IP (0-8), R8-R15 (16-23).
const REGS_MASK = 0x1ffn | (0xffn << 16n);
const REG_SP = 7;
const REG_IP = 8;
const PAGE = 4096;
const DATA_PAGES = 16;

const lib = koffi.load('libc.so.6');
const syscall = lib.func('long syscall(long, void*, int, int, int, unsigned long)');
const mmap = lib.func('void* mmap(void*, size_t, int, int, int, long)');

const target = spawn('lua5.4', ['-e', 'local x = 0 while true do x = x + 1 end'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 200));
const tid = target.pid;

const attr = Buffer.alloc(128);
attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
attr.writeUInt32LE(128, 4);
attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_CONTEXT_SWITCHES), 8);
attr.writeBigUInt64LE(1n, 16);
attr.writeBigUInt64LE(
  BigInt(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER),
  24,
);
attr.writeBigUInt64LE(1n << 25n, 40); // use_clockid
attr.writeBigUInt64LE(REGS_MASK, 80); // sample_regs_user
attr.writeInt32LE(1, 92); // CLOCK_MONOTONIC
const fd = Number(syscall(SYS_PERF_EVENT_OPEN, attr, tid, -1, -1, 8));
if (fd < 0) throw new Error('perf_event_open failed (root needed)');
const map = mmap(null, (1 + DATA_PAGES) * PAGE, 3, 1, fd, 0);
const view = koffi.view(map, (1 + DATA_PAGES) * PAGE);
const meta = new DataView(view, 0, PAGE);
const data = new DataView(view, PAGE, DATA_PAGES * PAGE);

const cpu = Number(lastCpu(`/proc/${tid}/stat`));
const hog = spawn('taskset', ['-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
execSync(`taskset -p -c ${cpu} ${tid}`, { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
hog.kill();
target.kill();

const head = Number(meta.getBigUint64(1024, true));
let samples = 0;
let withUserRegs = 0;
for (let tail = 0; tail + 8 <= head;) {
  const at = tail % (DATA_PAGES * PAGE);
  const size = data.getUint16(at + 6, true);
  if (data.getUint32(at, true) === PERF_RECORD_SAMPLE) {
    // ip u64, pid/tid u32 x2, time u64, abi u64, regs...
    const abi = data.getBigUint64(at + 32, true);
    const rip = data.getBigUint64(at + 40 + 8 * REG_IP, true);
    const rsp = data.getBigUint64(at + 40 + 8 * REG_SP, true);
    if (samples < 3) console.log(`switch-out: user rip 0x${rip.toString(16)} rsp 0x${rsp.toString(16)}`);
    if (abi === PERF_SAMPLE_REGS_ABI_64 && rip > 0x1000n && rip < 0x800000000000n) withUserRegs++;
    samples++;
  }
  tail += size || 8;
}
console.log(`${samples} switch-out samples, ${withUserRegs} with 64-bit user registers`);

/** Field 39 (the CPU last run on) of a /proc stat file. */
function lastCpu(path) {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[39 - 3];
}
