/**
 * Grafana Pyroscope's push API: POST /ingest, one series per request.
 * Rules, from grafana/pyroscope:
 *   - route "/ingest": pkg/api/api.go; query parameters name, from, until, sampleRate, spyName, format:
 *     pkg/ingester/pyroscope/ingest_handler.go (parseInputMetadataFromRequest; format=pprof takes the
 *     body as the profile, readInputRawDataFromRequest); a bad name is 400 with JSON {code, message}
 *     (pkg/util/http/error.go ErrorWithStatus), "name: invalid label name: …".
 *   - name = app{k=v,…}: api/model/labelset/labelset.go (Parse: ',' and '}' end a value, names and
 *     values are trimmed); service name runes [A-Za-z0-9_./-], label name runes [A-Za-z0-9_.],
 *     __name__ reserved: api/model/labelset/validate.go.
 *   - labels starting with "__" are dropped at ingestion: pkg/model/labels.go IsLabelAllowedForIngestion.
 *   - from/until: Unix seconds (10 digits), pkg/og/util/attime/attime.go.
 *   - the body may be gzipped: pkg/pprof/pprof.go RawFromBytesWithLimit.
 */
import { joinPath, type Backend, type SeriesWindow, type UploadRequest } from './backend.js';
import { LabelError, showChar, type Labels } from './labels.js';

const isLabelNameRune = (c: string) => /^[A-Za-z0-9_.]$/.test(c);
const isServiceNameRune = (c: string) => c === '-' || c === '/' || isLabelNameRune(c);

export function checkPyroscopeAppName(app: string): void {
  if (app === '') throw new LabelError('--app-name: Pyroscope needs a service name');
  for (const c of app)
    if (!isServiceNameRune(c))
      throw new LabelError(
        `--app-name "${app}": Pyroscope does not accept ${showChar(c)} in a service name (allowed: A-Z a-z 0-9 _ . / -)`,
      );
}

export function checkPyroscopeLabels(labels: Labels): void {
  for (const [name, value] of Object.entries(labels)) {
    if (name === '') throw new LabelError('label with an empty name: Pyroscope needs one');
    for (const c of name)
      if (!isLabelNameRune(c))
        throw new LabelError(
          `label "${name}": Pyroscope does not accept ${showChar(c)} in a label name (allowed: A-Z a-z 0-9 _ .)`,
        );
    if (name.startsWith('__'))
      throw new LabelError(`label "${name}": names starting with "__" are reserved (Pyroscope drops them)`);
    for (const c of value)
      if (c === ',' || c === '}' || c === '{')
        throw new LabelError(`label "${name}": Pyroscope does not accept ${showChar(c)} in a label value`);
    if (value.trim() !== value)
      throw new LabelError(`label "${name}": leading or trailing spaces would be trimmed by Pyroscope`);
  }
}

/** name=app.cpu{k=v,…}: labels sorted, so one series always has one spelling. */
export function pyroscopeName(app: string, labels: Labels): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `${app}.cpu{${pairs.join(',')}}`;
}

export class PyroscopeBackend implements Backend {
  readonly kind = 'pyroscope';
  constructor(
    private readonly base: URL,
    private readonly app: string,
    private readonly rate: number,
    private readonly headers: Record<string, string>,
  ) {
    checkPyroscopeAppName(app);
  }

  checkLabels(labels: Labels): void {
    checkPyroscopeLabels(labels);
  }

  requests(window: readonly SeriesWindow[]): UploadRequest[] {
    return window.map((s) => {
      const url = joinPath(this.base, '/ingest');
      const q = url.searchParams;
      q.set('name', pyroscopeName(this.app, s.labels));
      q.set('from', String(Math.round(s.fromMs / 1000)));
      q.set('until', String(Math.round(s.untilMs / 1000)));
      q.set('format', 'pprof');
      q.set('sampleRate', String(Math.round(this.rate)));
      q.set('spyName', 'luaprof');
      return {
        url: url.href,
        headers: { ...this.headers, 'content-type': 'application/octet-stream' },
        body: s.pprof,
        series: 1,
      };
    });
  }
}
