/** The chat's text rules, shared by every entry (workerd's too, which bundles no Redis client). */

/** `value` with runs of whitespace made one space, trimmed and cut to `max` characters; `fallback` when empty. */
export function clean(value: string | null, fallback: string, max: number): string {
  const text = (value ?? "").replace(/\s+/g, " ").trim().slice(0, max);
  return text.length > 0 ? text : fallback;
}
