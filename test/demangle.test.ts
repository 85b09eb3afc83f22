/**
 * The Itanium demangler (sampler/native/demangle.ts). What it prints is pinned to c++filt (here, and on all of libstdc++'s names in e2e-native-symbolize.test.ts); what it
 * costs is bounded: the names come from the target's binaries, so a crafted one must come back
 * unchanged, quickly, without throwing and without building a huge string (demangle.ts says why we
 * do not call libstdc++'s __cxa_demangle).
 */
import { describe, expect, it } from 'vitest';
import { DEMANGLE_LIMITS, demangle } from '../sampler/native/demangle.js';

/** Demangles and times one name. */
function timed(name: string): { out: string; ms: number } {
  const t0 = performance.now();
  const out = demangle(name);
  return { out, ms: performance.now() - t0 };
}

/** <seq-id> of substitution i as written after S (S_, S0_, S1_, ...). */
const sub = (i: number): string => `S${i === 0 ? '' : (i - 1).toString(36).toUpperCase()}_`;

/**
 * Generous bound on one name's time: a few milliseconds on an idle machine, the margin is for a
 * loaded CI runner. Without the limits, the worst names below took seconds and gigabytes.
 */
const MAX_MS = 250;

describe('demangle: what it prints', () => {
  const cases: [string, string][] = [
    ['_ZN3foo3barEv', 'foo::bar()'],
    ['_Z3addii', 'add(int, int)'],
    ['_ZN4game6Widget4spinEi', 'game::Widget::spin(int)'],
    ['_ZNK4game6Widget4spinEi', 'game::Widget::spin(int) const'],
    ['_ZN4game6WidgetC2Ei', 'game::Widget::Widget(int)'],
    ['_ZN4game6WidgetD0Ev', 'game::Widget::~Widget()'],
    ['_ZNK4game6WidgeteqERKS0_', 'game::Widget::operator==(game::Widget const&) const'],
    [
      '_ZN4game3sumIiEET_RKSt6vectorIS1_SaIS1_EE',
      'int game::sum<int>(std::vector<int, std::allocator<int> > const&)',
    ],
    ['_ZNSt6vectorIiSaIiEE9push_backERKi', 'std::vector<int, std::allocator<int> >::push_back(int const&)'],
    [
      '_ZNSsC1EPKcRKSaIcE',
      'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string(char const*, std::allocator<char> const&)',
    ],
    [
      '_ZStlsISt11char_traitsIcEERSt13basic_ostreamIcT_ES5_PKc',
      'std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*)',
    ],
    ['_Z1fPFviE', 'f(void (*)(int))'],
    ['_Z1fRA10_i', 'f(int (&) [10])'],
    ['_Z1fM1AFivE', 'f(int (A::*)())'],
    ['_ZN12_GLOBAL__N_14helpEv', '(anonymous namespace)::help()'],
    ['_ZZ4mainENKUlvE_clEv', 'main::{lambda()#1}::operator()() const'],
    ['_ZTV6Widget', 'vtable for Widget'],
    ['_ZTI6Widget', 'typeinfo for Widget'],
    ['_ZThn8_N1B1fEv', 'non-virtual thunk to B::f()'],
    ['_ZGVZ4mainE1x', 'guard variable for main::x'],
    ['_ZN1A1fEv.cold', 'A::f() [clone .cold]'],
    ['_ZL6staticv.isra.0', 'static() [clone .isra.0]'],
    ['_ZN1AcvbEv', 'A::operator bool()'],
    ['_ZN1AixEi', 'A::operator[](int)'],
    ['_Z1fIJidEEvDpT_', 'void f<int, double>(int, double)'],
    ['_Z1fILi3EEvv', 'void f<3>()'],
    ['_Z1fIbLb1EEvv', 'void f<bool, true>()'],
    ['_ZNKSt8functionIFviEEclEi', 'std::function<void (int)>::operator()(int) const'],
    ['main', 'main'],
    ['lua_pcallk', 'lua_pcallk'],
    ['_Z', '_Z'],
    ['_ZN3foo', '_ZN3foo'],
    ['_Z1fS9_', '_Z1fS9_'],
    ['_Z1fT_', '_Z1fT_'],
  ];
  it.each(cases)('%s', (m, want) => {
    expect(demangle(m)).toBe(want);
  });

  it('prints long but ordinary names (the limits do not cut realistic ones)', () => {
    // 200 nested namespaces, 300 parameters, 60 levels of templates.
    expect(demangle('_ZN' + '2ns'.repeat(200) + '1fEv')).toBe('ns::'.repeat(200) + 'f()');
    expect(demangle('_Z1f' + 'i'.repeat(300))).toBe('f(' + Array(300).fill('int').join(', ') + ')');
    const nested = '_Z1fI' + '1AI'.repeat(60) + 'i' + 'E'.repeat(60) + 'Evv';
    expect(demangle(nested)).toBe('void f<' + 'A<'.repeat(60) + 'int>' + ' >'.repeat(59) + ' >()');
  });
});

describe('demangle: hostile names', () => {
  it('back-references that double the text each time: refused before the text grows', () => {
    // F S_ S_ E: a function type made of the previous one twice. 26 of them printed 512M characters.
    let m = '_Z1f1a';
    for (let i = 0; i < 26; i++) m += `F${i ? sub(i - 1) : 'S_'}${i ? sub(i - 1) : 'S_'}E`;
    const { out, ms } = timed(m);
    expect(out).toBe(m);
    expect(ms).toBeLessThan(MAX_MS);
    // Template arguments made of the previous argument twice: b<a, a>, b<b<a, a>, b<a, a> >, ...
    // c++filt prints 54 MB for 22 of them (239 characters); __cxa_demangle would malloc all of it.
    const doubling = (n: number): string => {
      let t = '_Z1fI1a';
      for (let i = 0; i < n; i++) t += `1bI${sub(i ? 2 * i + 1 : 1)}${sub(i ? 2 * i + 1 : 1)}E`;
      return t + 'Evv';
    };
    expect(demangle(doubling(8))).toHaveLength(3295); // as c++filt prints it: below the limits
    for (const n of [22, 40]) {
      const { out, ms } = timed(doubling(n));
      expect(out).toBe(doubling(n));
      expect(ms).toBeLessThan(MAX_MS);
    }
  });

  it('deep nesting: refused at the depth limit, not by the stack', () => {
    const depth = DEMANGLE_LIMITS.MAX_DEPTH + 10;
    for (const m of [
      '_Z1f' + 'P'.repeat(4000) + 'i', // pointer to pointer to ...
      '_Z1f' + 'FvF'.repeat(depth) + 'v' + 'E'.repeat(2 * depth), // function types in function types
      '_Z1fI' + '1AI'.repeat(depth) + 'i' + 'E'.repeat(depth + 1) + 'v', // templates in templates
      '_Z' + 'Z'.repeat(depth) + '1fv' + 'E1g'.repeat(depth) + 'v', // local names in local names
      '_Z1fIXadL_Z1gIXadL_Z'.repeat(depth), // expressions naming templates naming expressions
    ]) {
      const { out, ms } = timed(m);
      expect(out).toBe(m);
      expect(ms).toBeLessThan(MAX_MS);
    }
  });

  it('lengths and indices out of range', () => {
    for (const m of [
      '_Z1f' + '999999999' + 'a', // source name longer than the input
      '_Z9999999999999999999999f', // a length that does not fit in a double exactly
      '_Z1f1aS' + 'Z'.repeat(30) + '_', // substitution index past every substitution
      '_Z1fIiEvT' + 'Z'.repeat(30) + '_', // template parameter index past every argument
      '_Z1fS_', // substitution before any exists
      '_Z1fT_', // template parameter outside a template
      '_ZN3foo', // unterminated
      '_Z' + '_'.repeat(5000), // longer than MAX_INPUT
    ]) {
      expect(demangle(m)).toBe(m);
    }
  });

  it('references that point forward or at themselves terminate (as c++filt prints them)', () => {
    for (const [m, want] of [
      ['_Zcv1BIRT_EIS1_E', '_Zcv1BIRT_EIS1_E'], // looped LLVM's demangler (llvm.org/PR51407)
      ['_Z1fIT_EvT_', '_Z1fIT_EvT_'], // a template argument that is its own parameter
      ['_ZN1AIS_EE', 'A<A>'], // a substitution inside the name it would stand for: the earlier A
      ['_Z1fIJT_EEvDpT_', '_Z1fIJT_EEvDpT_'], // a pack whose element is the pack
    ]) {
      const { out, ms } = timed(m);
      expect(out).toBe(want);
      expect(ms).toBeLessThan(MAX_MS);
    }
  });

  it('pack expansions that multiply: bounded by the step limit', () => {
    // Each Dp re-reads its pattern once per pack element: 1000 elements x 1000 expansions.
    const m = '_Z1fIJ' + 'i'.repeat(1000) + 'EEv' + 'DpT_'.repeat(700);
    const { out, ms } = timed(m);
    expect(out).toBe(m);
    expect(ms).toBeLessThan(MAX_MS);
  });

  it('random input: never throws, every name within the time bound', () => {
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = '_ZNEIKRPSTLDCFvijcdS0_123456789abcXJMApt\u00ff\u0000';
    let worst = 0;
    for (let i = 0; i < 3000; i++) {
      let s = '_Z';
      const n = Math.floor(rnd() * (i < 2900 ? 40 : 4000));
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const { out, ms } = timed(s);
      expect(typeof out).toBe('string');
      worst = Math.max(worst, ms);
    }
    expect(worst).toBeLessThan(MAX_MS);
  });
});
