/** `-f, --format` of record and report. */
import { InvalidArgumentError } from 'commander';
import { OUTPUT_FORMATS, parseFormat, type OutputFormat } from '../report/output-path.js';

export function formatOption(v: string): OutputFormat {
  const f = parseFormat(v);
  if (!f) throw new InvalidArgumentError(`expected one of ${OUTPUT_FORMATS.join(', ')}`);
  return f;
}
