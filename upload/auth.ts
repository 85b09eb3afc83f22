/**
 * Credentials for the upload, from the environment only: a token or a password on the command line
 * is visible to every user of the host (/proc/PID/cmdline, ps). --tenant is not a secret.
 *   LUAPROF_UPLOAD_TOKEN                          → Authorization: Bearer <token>
 *   LUAPROF_UPLOAD_USER + LUAPROF_UPLOAD_PASSWORD → Authorization: Basic base64(user:password)
 *   --tenant T                                    → X-Scope-OrgID: T (Grafana's multi-tenancy header,
 *     read by pyroscope pkg/tenant/interceptor.go; Parca ignores it, a proxy in front may not)
 */

export class AuthError extends Error {}

export function authHeaders(env: NodeJS.ProcessEnv, tenant?: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const token = env.LUAPROF_UPLOAD_TOKEN;
  const user = env.LUAPROF_UPLOAD_USER;
  const password = env.LUAPROF_UPLOAD_PASSWORD;
  if (token && (user || password))
    throw new AuthError('set either LUAPROF_UPLOAD_TOKEN or LUAPROF_UPLOAD_USER/PASSWORD, not both');
  if (token) headers.authorization = `Bearer ${token}`;
  else if (user || password) {
    if (!user || password === undefined)
      throw new AuthError('LUAPROF_UPLOAD_USER and LUAPROF_UPLOAD_PASSWORD go together');
    if (user.includes(':')) throw new AuthError('LUAPROF_UPLOAD_USER cannot contain ":" (basic auth)');
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  if (tenant !== undefined) {
    // A header value: no control characters (fetch would throw later, on every window).
    // eslint-disable-next-line no-control-regex
    if (tenant === '' || /[\x00-\x1f\x7f]/.test(tenant))
      throw new AuthError('--tenant: expected a tenant id');
    headers['x-scope-orgid'] = tenant;
  }
  return headers;
}
