/** --upload URL: which backend, and where. http(s):// is Pyroscope, parca+http(s):// is Parca. */

export class EndpointError extends Error {}

export interface Endpoint {
  kind: 'pyroscope' | 'parca';
  base: URL;
}

const SCHEMES: Record<string, Endpoint['kind']> = {
  'http:': 'pyroscope',
  'https:': 'pyroscope',
  'pyroscope+http:': 'pyroscope',
  'pyroscope+https:': 'pyroscope',
  'parca+http:': 'parca',
  'parca+https:': 'parca',
};

export function parseEndpoint(text: string): Endpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EndpointError(`--upload: not a URL: ${text}`);
  }
  const kind = SCHEMES[url.protocol];
  if (!kind)
    throw new EndpointError(
      `--upload: unknown scheme ${url.protocol} (http(s):// for Pyroscope, parca+http(s):// for Parca)`,
    );
  if (url.username || url.password)
    throw new EndpointError(
      '--upload: credentials do not belong in the URL (visible in ps): set LUAPROF_UPLOAD_TOKEN or LUAPROF_UPLOAD_USER and LUAPROF_UPLOAD_PASSWORD',
    );
  if (url.search || url.hash) throw new EndpointError('--upload: the URL takes no query or fragment');
  const base = new URL(`${url.protocol.replace(/^(pyroscope|parca)\+/, '')}//${url.host}${url.pathname}`);
  return { kind, base };
}
