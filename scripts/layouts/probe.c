/*
 * Layout probe: compiled against one PUC Lua release's own headers (and its lopcodes.c), prints the
 * offsetof()/sizeof() values and constants luaprof's PucLayout needs, as one JSON object.
 *   gcc -I<lua>/src probe.c <lua>/src/lopcodes.c -o probe && ./probe
 * Every field comes from the headers; nothing here is a hand-written number.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "lua.h"
#include "lobject.h"
#include "lstate.h"
#include "lopcodes.h"
#include "ltm.h"
#include "lfunc.h"
#if LUA_VERSION_NUM >= 504
#include "lopnames.h"
#define OPNAME(i) (opnames[i])
#else
#define OPNAME(i) (luaP_opnames[i])
#endif

#define OFF(T, f) ((int)offsetof(T, f))
#define SZ(T) ((int)sizeof(T))
#define SIZEOF_FIELD(T, f) ((int)sizeof(((T *)0)->f))

static int first = 1;
static void key(const char *k) { printf("%s\"%s\":", first ? "" : ",", k); first = 0; }
static void num(const char *k, long v) { key(k); printf("%ld", v); }
static void open_obj(const char *k) { key(k); printf("{"); first = 1; }
static void close_obj(void) { printf("}"); first = 0; }

int main(void) {
  printf("{");
  key("release"); printf("\"%s\"", LUA_RELEASE + 4); /* "Lua 5.x.y" */
  key("family"); printf("\"%d.%d\"", LUA_VERSION_NUM / 100, LUA_VERSION_NUM % 100);

  open_obj("state");
  num("tt", OFF(lua_State, tt));
  num("status", OFF(lua_State, status));
  num("top", OFF(lua_State, top));
  num("l_G", OFF(lua_State, l_G));
  num("ci", OFF(lua_State, ci));
  num("stack", OFF(lua_State, stack));
  num("stack_last", OFF(lua_State, stack_last));
  num("base_ci", OFF(lua_State, base_ci));
  num("size", SZ(lua_State));
#if LUA_VERSION_NUM == 501
  num("savedpc", OFF(lua_State, savedpc));
  num("end_ci", OFF(lua_State, end_ci));
  key("baseCiIsPointer"); printf("true");
#endif
  close_obj();

  open_obj("global");
  num("l_registry", OFF(global_State, l_registry));
  num("mainthread", OFF(global_State, mainthread));
  num("gcstate", OFF(global_State, gcstate));
  num("tmname", OFF(global_State, tmname));
  num("strt", OFF(global_State, strt));
#if LUA_VERSION_NUM >= 502
  num("seed", OFF(global_State, seed));
#endif
  close_obj();

  open_obj("stringtable");
  num("hash", OFF(stringtable, hash));
  num("nuse", OFF(stringtable, nuse));
  num("size", OFF(stringtable, size));
  close_obj();

#if LUA_VERSION_NUM >= 502
  open_obj("registry");
  num("mainthread", LUA_RIDX_MAINTHREAD);
  num("globals", LUA_RIDX_GLOBALS);
  close_obj();
#endif

  open_obj("callinfo");
  num("size", SZ(CallInfo));
  num("func", OFF(CallInfo, func));
  num("top", OFF(CallInfo, top));
#if LUA_VERSION_NUM == 501
  num("base", OFF(CallInfo, base));
  num("savedpc", OFF(CallInfo, savedpc));
  num("tailcalls", OFF(CallInfo, tailcalls));
  num("callstatus", -1);
  num("callstatusSize", 0);
#else
  num("previous", OFF(CallInfo, previous));
  num("next", OFF(CallInfo, next));
#if LUA_VERSION_NUM < 504
  num("base", OFF(CallInfo, u.l.base));
#endif
  num("savedpc", OFF(CallInfo, u.l.savedpc));
  num("callstatus", OFF(CallInfo, callstatus));
  num("callstatusSize", SIZEOF_FIELD(CallInfo, callstatus));
#endif
  open_obj("bits");
#ifdef CIST_LUA
  num("lua", CIST_LUA);
#endif
#ifdef CIST_C
  num("c", CIST_C);
#endif
#ifdef CIST_FRESH
  num("fresh", CIST_FRESH);
#endif
#ifdef CIST_TAIL
  num("tail", CIST_TAIL);
#endif
#ifdef CIST_HOOKED
  num("hooked", CIST_HOOKED);
#endif
#ifdef CIST_FIN
  num("fin", CIST_FIN);
#endif
  close_obj();
  close_obj();

  open_obj("tvalue");
  num("size", SZ(TValue));
#if LUA_VERSION_NUM == 501
  num("tt", OFF(TValue, tt));
  num("ttSize", SIZEOF_FIELD(TValue, tt));
#else
  num("tt", OFF(TValue, tt_));
  num("ttSize", SIZEOF_FIELD(TValue, tt_));
#endif
  close_obj();

  open_obj("tags");
  num("nil", LUA_TNIL);
#if LUA_VERSION_NUM == 501
  num("thread", LUA_TTHREAD);
  num("luaClosure", LUA_TFUNCTION);
  num("lightC", -1);
  num("cClosure", LUA_TFUNCTION);
  num("table", LUA_TTABLE);
  num("shortString", LUA_TSTRING);
  num("longString", LUA_TSTRING);
#elif LUA_VERSION_NUM <= 503
  num("thread", ctb(LUA_TTHREAD));
  num("luaClosure", ctb(LUA_TLCL));
  num("lightC", LUA_TLCF);
  num("cClosure", ctb(LUA_TCCL));
  num("table", ctb(LUA_TTABLE));
  num("shortString", ctb(LUA_TSHRSTR));
  num("longString", ctb(LUA_TLNGSTR));
#else
  num("thread", ctb(LUA_VTHREAD));
  num("luaClosure", ctb(LUA_VLCL));
  num("lightC", LUA_VLCF);
  num("cClosure", ctb(LUA_VCCL));
  num("table", ctb(LUA_VTABLE));
  num("shortString", ctb(LUA_VSHRSTR));
  num("longString", ctb(LUA_VLNGSTR));
#endif
  close_obj();

  open_obj("closure");
#if LUA_VERSION_NUM == 501
  num("isC", OFF(CClosure, isC));
#endif
  num("nupvalues", OFF(LClosure, nupvalues));
  num("lp", OFF(LClosure, p));
  num("cf", OFF(CClosure, f));
  num("cupvalue", OFF(CClosure, upvalue));
  num("lupvals", OFF(LClosure, upvals));
  close_obj();

  open_obj("proto");
  num("size", SZ(Proto));
  num("sizeupvalues", OFF(Proto, sizeupvalues));
  num("sizek", OFF(Proto, sizek));
  num("sizecode", OFF(Proto, sizecode));
  num("sizelineinfo", OFF(Proto, sizelineinfo));
  num("sizelocvars", OFF(Proto, sizelocvars));
  num("sizep", OFF(Proto, sizep));
#if LUA_VERSION_NUM >= 504
  num("sizeabslineinfo", OFF(Proto, sizeabslineinfo));
  num("abslineinfo", OFF(Proto, abslineinfo));
  num("absLineInfoSize", SZ(AbsLineInfo));
#endif
#if LUA_VERSION_NUM == 501
  num("nups", OFF(Proto, nups));
#endif
  num("linedefined", OFF(Proto, linedefined));
  num("lastlinedefined", OFF(Proto, lastlinedefined));
  num("k", OFF(Proto, k));
  num("code", OFF(Proto, code));
  num("p", OFF(Proto, p));
  num("upvalues", OFF(Proto, upvalues));
  num("lineinfo", OFF(Proto, lineinfo));
  num("lineinfoSize", SIZEOF_FIELD(Proto, lineinfo[0]));
  num("locvars", OFF(Proto, locvars));
  num("source", OFF(Proto, source));
  close_obj();

  open_obj("locvar");
  num("size", SZ(LocVar));
  num("varname", OFF(LocVar, varname));
  num("startpc", OFF(LocVar, startpc));
  num("endpc", OFF(LocVar, endpc));
  close_obj();

  open_obj("upvaldesc");
#if LUA_VERSION_NUM == 501
  num("size", SZ(TString *));
  num("name", 0);
#else
  num("size", SZ(Upvaldesc));
  num("name", OFF(Upvaldesc, name));
#endif
  close_obj();

  open_obj("table");
  num("lsizenode", OFF(Table, lsizenode));
#if LUA_VERSION_NUM >= 504
  num("alimit", OFF(Table, alimit));
#else
  num("sizearray", OFF(Table, sizearray));
#endif
  num("array", OFF(Table, array));
  num("node", OFF(Table, node));
  close_obj();

  open_obj("node");
  num("size", SZ(Node));
#if LUA_VERSION_NUM >= 504
  num("keyTt", OFF(Node, u.key_tt));
  num("keyVal", OFF(Node, u.key_val));
  num("keyTtSize", SIZEOF_FIELD(Node, u.key_tt));
#elif LUA_VERSION_NUM >= 502
  num("keyTt", OFF(Node, i_key.nk.tt_));
  num("keyVal", OFF(Node, i_key.nk.value_));
  num("keyTtSize", SIZEOF_FIELD(Node, i_key.nk.tt_));
#else
  num("keyTt", OFF(Node, i_key.nk.tt));
  num("keyVal", OFF(Node, i_key.nk.value));
  num("keyTtSize", SIZEOF_FIELD(Node, i_key.nk.tt));
#endif
  close_obj();

  open_obj("tstring");
#if LUA_VERSION_NUM <= 502
  num("contents", SZ(TString));
  num("len", OFF(TString, tsv.len));
  num("hash", OFF(TString, tsv.hash));
  num("hnext", OFF(TString, tsv.next));
#elif LUA_VERSION_NUM == 503
  num("contents", SZ(UTString));
  num("shrlen", OFF(TString, shrlen));
  num("len", OFF(TString, u.lnglen));
  num("hash", OFF(TString, hash));
  num("hnext", OFF(TString, u.hnext));
#else
  num("contents", OFF(TString, contents));
  num("shrlen", OFF(TString, shrlen));
  num("len", OFF(TString, u.lnglen));
  num("hash", OFF(TString, hash));
  num("hnext", OFF(TString, u.hnext));
#endif
#ifdef getlngstr
  num("longMarker", 0xFF); /* lobject.h: "shrlen ... 0xFF for long strings" */
#endif
  close_obj();

#if LUA_VERSION_NUM >= 504
  key("stkIdRel");
  printf("%s", _Generic(((lua_State *)0)->top, StkId: "false", default: "true"));
#endif
  key("threadStatus"); printf("{\"ok\":0,\"yield\":%d}", LUA_YIELD);

  open_obj("opcodes");
  key("names"); printf("[");
  for (int i = 0; i < NUM_OPCODES; i++) printf("%s\"%s\"", i ? "," : "", OPNAME(i));
  printf("]");
  key("setsA"); printf("[");
  for (int i = 0, n = 0; i < NUM_OPCODES; i++) if (testAMode(i)) printf("%s\"%s\"", n++ ? "," : "", OPNAME(i));
  printf("]");
#if LUA_VERSION_NUM >= 504
  key("mm"); printf("[");
  for (int i = 0, n = 0; i < NUM_OPCODES; i++) if (testMMMode(i)) printf("%s\"%s\"", n++ ? "," : "", OPNAME(i));
  printf("]");
#endif
  close_obj();
  printf("}\n");
  return 0;
}
