/** Words shared by every message and renderer. */

/** "1 request", "2 requests"; `many` for irregular plurals ("connection was" / "connections were"). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A span of seconds for a note: `127 s`, `0.2 s` (a tenth below 10 s). */
export function formatSeconds(seconds: number): string {
  return `${seconds >= 10 ? Math.round(seconds) : Number(seconds.toFixed(1))} s`;
}

/** A count with thousands separated by commas, whatever the locale: `28,232`. */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
