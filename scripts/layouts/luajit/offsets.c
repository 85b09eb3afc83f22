/*
 * offsetof() probe for a LuaJIT 2.1 source tree: prints the layout luaprof's LuaJIT walker reads, as
 * JSON. Compile against the tree's own src/ (same defines as the build):
 *   cc -I<tree>/src -o probe offsets.c && ./probe
 * Used by gen.sh to produce sampler/lua/luajit/layouts.ts entries.
 */
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#define LUA_CORE
#include "lj_obj.h"
#include "lj_frame.h"
#include "lj_jit.h"
#include "lj_dispatch.h"
#include "lj_trace.h"
#include "lj_bc.h"
#include "lj_debug.h"

#define O(T, f) printf("\"%s.%s\": %lu, ", #T, #f, (unsigned long)offsetof(T, f))
#define S(T) printf("\"sizeof.%s\": %lu, ", #T, (unsigned long)sizeof(T))
#define C(name, v) printf("\"%s\": %ld, ", name, (long)(v))

int main(void) {
  printf("{ ");
  C("LJ_GC64", LJ_GC64); C("LJ_FR2", LJ_FR2); C("LJ_HASJIT", LJ_HASJIT); C("LJ_HASFFI", LJ_HASFFI);
  O(lua_State, glref); O(lua_State, status); O(lua_State, base); O(lua_State, top); O(lua_State, maxstack);
  O(lua_State, stack); O(lua_State, cframe); O(lua_State, stacksize); O(lua_State, dummy_ffid);
  S(lua_State);
  O(global_State, vmstate); O(global_State, cur_L); O(global_State, jit_base); O(global_State, mainthref);
  O(global_State, registrytv); O(global_State, gcroot); O(global_State, strempty);
  O(global_State, tmptv);
  O(GG_State, L); O(GG_State, g); O(GG_State, J); O(GG_State, dispatch);
  C("GG_G2DISP", GG_G2DISP);
  O(jit_State, trace); O(jit_State, sizetrace);
  O(GCproto, sizebc); O(GCproto, chunkname); O(GCproto, firstline); O(GCproto, numline); O(GCproto, lineinfo);
  O(GCproto, uvinfo); O(GCproto, varinfo); O(GCproto, sizept); O(GCproto, sizeuv); O(GCproto, numparams);
  O(GCproto, framesize); O(GCproto, flags); O(GCproto, k); O(GCproto, sizekgc); O(GCproto, sizekn);
  O(GCproto, trace); O(GCproto, gct);
  S(GCproto);
  O(GCfuncC, ffid); O(GCfuncC, nupvalues); O(GCfuncC, env); O(GCfuncC, f); O(GCfuncC, upvalue); O(GCfuncC, gct);
  O(GCfuncL, pc); O(GCfuncL, uvptr);
  O(GCstr, len); O(GCstr, gct); O(GCstr, hash); S(GCstr);
  O(GCtrace, traceno); O(GCtrace, startpt); O(GCtrace, startpc); O(GCtrace, root); O(GCtrace, mcode);
  O(GCtrace, szmcode); O(GCtrace, gct); O(GCtrace, link);
  O(GCtab, array); O(GCtab, node); O(GCtab, asize); O(GCtab, hmask); O(GCtab, gct); S(GCtab);
  O(Node, val); O(Node, key); O(Node, next); S(Node);
  S(TValue);
  C("CFRAME_OFS_PREV", CFRAME_OFS_PREV); C("CFRAME_OFS_L", CFRAME_OFS_L); C("CFRAME_OFS_PC", CFRAME_OFS_PC);
  C("CFRAME_OFS_NRES", CFRAME_OFS_NRES); C("CFRAME_SIZE", CFRAME_SIZE); C("CFRAME_RAWMASK", CFRAME_RAWMASK);
  C("LJ_TFUNC", ~LJ_TFUNC); C("LJ_TTHREAD", ~LJ_TTHREAD); C("LJ_TPROTO", ~LJ_TPROTO); C("LJ_TSTR", ~LJ_TSTR);
  C("LJ_TTAB", ~LJ_TTAB); C("LJ_TTRACE", ~LJ_TTRACE); C("LJ_TNIL", ~LJ_TNIL);
  C("LJ_VMST_INTERP", LJ_VMST_INTERP); C("LJ_VMST_C", LJ_VMST_C); C("LJ_VMST_GC", LJ_VMST_GC);
  C("LJ_VMST_EXIT", LJ_VMST_EXIT); C("LJ_VMST_RECORD", LJ_VMST_RECORD); C("LJ_VMST_OPT", LJ_VMST_OPT);
  C("LJ_VMST_ASM", LJ_VMST_ASM); C("LJ_VMST__MAX", LJ_VMST__MAX);
  C("FF_LUA", FF_LUA); C("FF_C", FF_C);
  C("BC_CALLM", BC_CALLM); C("BC_CALL", BC_CALL); C("BC_CALLMT", BC_CALLMT); C("BC_CALLT", BC_CALLT);
  C("BC_ITERC", BC_ITERC); C("BC_ITERN", BC_ITERN); C("BC_VARG", BC_VARG); C("BC_MOV", BC_MOV);
  C("BC_GGET", BC_GGET); C("BC_TGETS", BC_TGETS); C("BC_UGET", BC_UGET); C("BC_KSTR", BC_KSTR);
  C("BC_FNEW", BC_FNEW); C("BC_JMP", BC_JMP); C("BC_FUNCF", BC_FUNCF); C("BC__MAX", BC__MAX);
  C("PROTO_VARARG", PROTO_VARARG); C("PROTO_CHILD", PROTO_CHILD);
  C("MM_call", MM_call); C("MM__MAX", MM__MAX);
  /* Per opcode: name, mode of operand A, metamethod (BCDEF in lj_bc.h). */
#define BCNAME(name, ma, mb, mc, mm) "\"" #name "\","
#define BCMA(name, ma, mb, mc, mm) BCM##ma,
#define BCMM(name, ma, mb, mc, mm) MM_##mm,
  { const char *names = BCDEF(BCNAME); printf("\"bcnames\": [%.*s], ", (int)strlen(names) - 1, names); }
  { int ma[] = { BCDEF(BCMA) }; printf("\"bcmodeA\": ["); for (int i = 0; i < BC__MAX; i++) printf("%s%d", i ? "," : "", ma[i]); printf("], "); }
  { int mm[] = { BCDEF(BCMM) }; printf("\"bcmm\": ["); for (int i = 0; i < BC__MAX; i++) printf("%s%d", i ? "," : "", mm[i]); printf("], "); }
  C("BCMbase", BCMbase); C("BCMdst", BCMdst);
#define MMNAME(name) "\"__" #name "\","
  { const char *names = MMDEF(MMNAME); printf("\"mmnames\": [%.*s], ", (int)strlen(names) - 1, names); }
#define VNAME(name, str) "\"" str "\","
  { const char *names = VARNAMEDEF(VNAME); printf("\"varnames\": [%.*s], ", (int)strlen(names) - 1, names); }
  printf("\"end\": 0 }\n");
  return 0;
}
