/**
 * Parca's push API: ProfileStoreService.WriteRaw in its REST form, every process of a window in one
 * request. Rules, from parca-dev/parca:
 *   - POST /profiles/writeraw, body "*": proto/parca/profilestore/v1alpha1/profilestore.proto; the
 *     gateway is mounted under /api (pkg/server/server.go: r.Mount("/api", …)), so the URL is
 *     <base>/api/profiles/writeraw; JSON field names as in the proto (series, labels.labels[].name/
 *     value, samples[].raw_profile as base64: proto3 JSON bytes).
 *   - labels: __name__ required ("missing __name__ label"), every other name a valid Prometheus label
 *     name ([a-zA-Z_][a-zA-Z0-9_]*, model.LabelName.IsValid), no duplicates ("duplicate label name"):
 *     pkg/normalizer/normalizer.go NormalizeWriteRawRequest; test: pkg/profilestore/profilestore_test.go.
 *   - raw_profile may be gzipped (1f 8b), then checked by ValidatePprofProfile
 *     (pkg/normalizer/validate.go: sequential ids, indexes in the string table, one value per sample type).
 *   - errors are gRPC statuses mapped by grpc-gateway: InvalidArgument → 400, JSON {code, message, details}.
 */
import { joinPath, type Backend, type SeriesWindow, type UploadRequest } from './backend.js';
import { LabelError, showChar, type Labels } from './labels.js';

/** The profile's name in Parca (its profile type is luaprof:samples:count:cpu:nanoseconds). */
export const PARCA_NAME = 'luaprof';

export function checkParcaLabels(labels: Labels): void {
  for (const name of Object.keys(labels)) {
    if (name === '') throw new LabelError('label with an empty name: Parca needs one');
    if (name === '__name__') throw new LabelError('label "__name__" is reserved: luaprof sets it');
    const bad = [...name].find((c, i) => !(i === 0 ? /^[a-zA-Z_]$/ : /^[a-zA-Z0-9_]$/).test(c));
    if (bad !== undefined)
      throw new LabelError(
        `label "${name}": Parca (Prometheus rules) does not accept ${showChar(bad)}${/^[0-9]$/.test(bad) ? ' first' : ''} in a label name (allowed: [a-zA-Z_][a-zA-Z0-9_]*)`,
      );
  }
}

export class ParcaBackend implements Backend {
  readonly kind = 'parca';
  constructor(
    private readonly base: URL,
    private readonly app: string,
    private readonly headers: Record<string, string>,
  ) {}

  checkLabels(labels: Labels): void {
    checkParcaLabels(labels);
  }

  /** Parca has no app name of its own: it is the service_name label, as Pyroscope derives it. */
  private labelsOf(s: SeriesWindow): { name: string; value: string }[] {
    const all: Labels = { service_name: this.app, ...s.labels };
    const out = [{ name: '__name__', value: PARCA_NAME }];
    for (const name of Object.keys(all).sort()) out.push({ name, value: all[name] });
    return out;
  }

  requests(window: readonly SeriesWindow[]): UploadRequest[] {
    if (window.length === 0) return [];
    const body = {
      series: window.map((s) => ({
        labels: { labels: this.labelsOf(s) },
        samples: [{ raw_profile: s.pprof.toString('base64') }],
      })),
      normalized: true,
    };
    return [
      {
        url: joinPath(this.base, '/api/profiles/writeraw').href,
        headers: { ...this.headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        series: window.length,
      },
    ];
  }
}
