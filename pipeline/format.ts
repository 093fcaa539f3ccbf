/** Number, byte and rate formatting shared by the live view and the summary. */

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Messages per second over `ms`, e.g. `412k msg/s`. */
export function rate(count: number, ms: number): string {
  if (ms <= 0) return '- msg/s';
  const r = count / (ms / 1000);
  return r >= 10_000 ? `${Math.round(r / 1000)}k msg/s` : `${int(r)} msg/s`;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export const fixed = (n: number, digits = 3): string => n.toFixed(digits);
