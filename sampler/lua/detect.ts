/** Which Lua a process runs, read from the target's own binaries (version strings in .rodata). */
import { closeSync, openSync, readSync, fstatSync, statSync } from 'node:fs';
import { exePath, readMaps } from '../os/procfs.js';

export interface LuaDetection {
  flavour: 'puc' | 'luajit';
  /** "5.4.4", "2.1.0-beta3", … */
  version: string;
  /** The file the version string was found in. */
  file: string;
}

const MAX_SCAN = 64 << 20;

/** Finds a Lua version string in a binary's bytes. */
export function detectInBytes(bytes: Buffer): Omit<LuaDetection, 'file'> | null {
  const text = bytes.toString('latin1');
  const jit = /LuaJIT (2\.\d+\.[0-9A-Za-z.~+-]+)/.exec(text);
  if (jit) return { flavour: 'luajit', version: jit[1] };
  const v52 = /\$LuaVersion: Lua (5\.\d+\.\d+)/.exec(text);
  if (v52) return { flavour: 'puc', version: v52[1] };
  const v51 = /\$Lua(?:Version)?: Lua (5\.\d+(?:\.\d+)?)/.exec(text);
  if (v51) return { flavour: 'puc', version: v51[1] };
  return null;
}

function readFileBounded(path: string): Buffer | null {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const size = Math.min(fstatSync(fd).size, MAX_SCAN);
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Candidate files: the executable first, then mapped libraries that look like Lua. */
export function luaBinaries(pid: number): string[] {
  const files: string[] = [];
  const exe = exePath(pid);
  if (exe) files.push(exe.replace(/ \(deleted\)$/, ''));
  for (const m of readMaps(pid)) {
    if (m.path.startsWith('/') && /lua|jit/i.test(m.path.split('/').pop() ?? '') && !files.includes(m.path))
      files.push(m.path);
  }
  return files;
}

export function detectLua(pid: number): LuaDetection | null {
  for (const file of luaBinaries(pid)) {
    const found = detectInFile(`/proc/${pid}/root${file}`) ?? detectInFile(file);
    if (found) return { ...found, file };
  }
  return null;
}

/** What each binary file holds, by path, size and modification time: --subprocesses asks about every process of a tree, often. */
const verdicts = new Map<string, Omit<LuaDetection, 'file'> | null>();
const MAX_VERDICTS = 4096;

function detectInFile(path: string): Omit<LuaDetection, 'file'> | null {
  let key: string;
  try {
    const st = statSync(path);
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return null;
  }
  if (verdicts.has(key)) return verdicts.get(key)!;
  const bytes = readFileBounded(path);
  if (!bytes) return null;
  const found = detectInBytes(bytes);
  if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
  verdicts.set(key, found);
  return found;
}
