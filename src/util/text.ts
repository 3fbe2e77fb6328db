/** Words shared by every message and renderer. */

/** "1 request", "2 requests"; `many` for irregular plurals ("connection was" / "connections were"). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
