/** Parses durations the way profiler users type them: 30s, 2m, 500ms, 1h, or plain seconds. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) return null;
  const value = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms =
    unit === 'ms' ? value : unit === 's' ? value * 1000 : unit === 'm' ? value * 60_000 : value * 3_600_000;
  return ms > 0 && Number.isFinite(ms) ? ms : null;
}
