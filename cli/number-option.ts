import { InvalidArgumentError } from 'commander';

/** A commander parser for a number that `ok` accepts; anything else is one line saying what was expected. */
export function numberOption(
  expected: string,
  ok: (n: number) => boolean,
  integer = false,
): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(integer ? Number.isInteger(n) : Number.isFinite(n)) || !ok(n))
      throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}
