/**
 * Parsers of option values. Each throws commander's InvalidArgumentError, which commander reports as
 * one line naming the option (exit 2), before anything is opened.
 */
import { InvalidArgumentError } from 'commander';
import { MessageId } from '../core/topic/index.js';
import type { RetentionPolicy } from '../core/topic/index.js';

/** An integer from `min` up (`--count`, `--partitions`, ...). */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got '${value}'`);
    }
    return n;
  };
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got '${value}'`);
    return value as T;
  };
}

/** Adds a repeated option's value to the list of earlier ones. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `k=v` pairs (repeated `--properties`) into a record; a later key wins. */
export function properties(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`a property is key=value with a non-empty key, got '${p}'`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

/** A point in time: epoch milliseconds, or an ISO 8601 date (`2026-11-25T10:00:00Z`). */
export function time(value: string): number {
  const v = value.trim();
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidArgumentError(`expected epoch milliseconds or an ISO 8601 time, got '${value}'`);
  return ms;
}

/** A start position: `earliest`, `latest` or a message ID `ledger:entry:partition:batch`. */
export function position(value: string): MessageId {
  if (value === 'earliest') return MessageId.earliest;
  if (value === 'latest') return MessageId.latest;
  try {
    return MessageId.fromString(value);
  } catch {
    throw new InvalidArgumentError(`expected earliest, latest or a message ID ledger:entry:partition:batch (as printed by produce), got '${value}'`);
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 };

function amount(value: string, units: Record<string, number>, defaultUnit: string, what: string): number {
  if (value.trim() === '-1') return -1;
  const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? (m[2]!.toLowerCase() || defaultUnit) : '';
  const scale = units[unit];
  const n = m && scale !== undefined ? Number(m[1]) * scale : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected ${what}, got '${value}'`);
  return n;
}

/**
 * A retention policy: `infinite` (keep everything), `none` (Pulsar's default: keep nothing that every
 * subscription has consumed) or `TIME,SIZE` (`7d,10G`; -1 for no limit on one of them). Checked
 * for the combinations the broker refuses when the topic is created.
 */
export function retention(value: string): RetentionPolicy {
  const v = value.trim().toLowerCase();
  if (v === 'infinite') return { timeMs: -1, sizeBytes: -1 };
  if (v === 'none') return { timeMs: 0, sizeBytes: 0 };
  const parts = v.split(',');
  if (parts.length !== 2) throw new InvalidArgumentError(`expected infinite, none or TIME,SIZE (e.g. 7d,10G; -1 for no limit), got '${value}'`);
  return {
    timeMs: amount(parts[0]!, DURATION_UNITS, 'ms', 'a time such as 90m, 7d or -1'),
    sizeBytes: amount(parts[1]!, SIZE_UNITS, '', 'a size such as 512M, 10G or -1'),
  };
}
