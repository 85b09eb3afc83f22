/** Number lists compared in place, on paths that run every sample (no closure, no copy). */

/** Whether `list` is the first n numbers of `of` (n defaults to all of it). */
export function samePrefix(list: readonly number[], of: readonly number[], n = of.length): boolean {
  if (list.length !== n) return false;
  for (let i = 0; i < n; i++) if (list[i] !== of[i]) return false;
  return true;
}
