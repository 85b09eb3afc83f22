import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { numberOption } from '../cli/number-option.js';

describe('numberOption', () => {
  const rate = numberOption('a rate in Hz between 1 and 10000', (n) => n > 0 && n <= 10_000);
  const count = numberOption('a positive integer', (n) => n >= 1, true);

  it('takes a number its check accepts', () => {
    expect(rate('99.5')).toBe(99.5);
    expect(count('7')).toBe(7);
  });

  it.each([
    [rate, '0'],
    [rate, '10001'],
    [rate, 'fast'],
    [rate, 'Infinity'],
    [count, '1.5'],
    [count, '0'],
  ])('refuses %#: one line saying what was expected', (parse, v) => {
    expect(() => parse(v)).toThrow(InvalidArgumentError);
    expect(() => parse(v)).toThrow(/^expected a /);
  });
});
