/**
 * NODE_OPTIONS for a command `watch` runs: Node reads its options from there, in every Node process the
 * command starts (children included). Both the key log (`--tls-keylog`, command-keylog.ts) and the
 * register (`--import`, command-register.ts) are added here, after whatever the user already had.
 */

/** `--name=value`, in double quotes when the value has spaces, quotes or backslashes (as NODE_OPTIONS wants). */
export function nodeOption(name: string, value: string): string {
  return /[\s"\\]/.test(value) ? `--${name}="${value.replace(/(["\\])/g, '\\$1')}"` : `--${name}=${value}`;
}

/** `base` with `options` appended to its NODE_OPTIONS (kept first: the user's options stay as they were). */
export function withNodeOptions(base: NodeJS.ProcessEnv, ...options: string[]): NodeJS.ProcessEnv {
  const before = base.NODE_OPTIONS?.trim();
  const added = options.join(' ');
  return { ...base, NODE_OPTIONS: before ? `${before} ${added}` : added };
}
