/** Lua 5.4 layouts, kept under their historical names: the tables themselves are generated (generated.ts). */
import type { OpcodeTable, PucLayout } from '../layout.js';
import { GENERATED_LAYOUTS } from './generated.js';

const find = (release: string): PucLayout => GENERATED_LAYOUTS.find((l) => l.releases.includes(release))!;

/** Lua 5.4.4 (probed from Debian bookworm's lua5.4 headers). */
export const LUA_543: PucLayout = find('5.4.4');
export const OPCODES_54: OpcodeTable = LUA_543.opcodes;
