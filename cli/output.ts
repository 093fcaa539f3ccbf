/**
 * What commands print. Results go to stdout: with `--json`, a stream of records (produce, consume,
 * read) is one JSON object per line and a single result is one JSON document; without it, plain
 * lines for people. Progress and warnings go to stderr, so stdout stays parseable.
 */
import type { Message } from '../actors/client/message.js';

/** How message values are written as text (and read from it, for produce). */
export type ValueEncoding = 'utf8' | 'base64' | 'hex';
export const VALUE_ENCODINGS: readonly ValueEncoding[] = ['utf8', 'base64', 'hex'];

const utf8 = new TextDecoder();
const enc = new TextEncoder();

export function encodeValue(bytes: Uint8Array, encoding: ValueEncoding): string {
  if (encoding === 'utf8') return utf8.decode(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}

export function decodeValue(text: string, encoding: ValueEncoding): Uint8Array {
  return encoding === 'utf8' ? enc.encode(text) : new Uint8Array(Buffer.from(text, encoding));
}

/** A received message as a JSON record. */
export function messageRecord(m: Message<Uint8Array>, encoding: ValueEncoding): Record<string, unknown> {
  return {
    id: m.id.toString(),
    ...(m.key !== undefined ? { key: m.key } : {}),
    value: encodeValue(m.data, encoding),
    ...(encoding !== 'utf8' ? { encoding } : {}),
    properties: m.properties,
    publishTime: m.publishTime,
    ...(m.eventTime !== undefined ? { eventTime: m.eventTime } : {}),
    redeliveryCount: m.redeliveryCount,
    producerName: m.producerName,
  };
}

export class Output {
  constructor(readonly json: boolean) {}

  /** One record of a stream: a JSON line, or the plain line. */
  record(value: unknown, plain: string): void {
    process.stdout.write(`${this.json ? JSON.stringify(value) : plain}\n`);
  }

  /** A single result: one JSON document, or the plain text. */
  document(value: unknown, plain: () => string): void {
    const text = this.json ? JSON.stringify(value) : plain();
    if (text.length > 0) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Progress or a summary for people, on stderr; not printed with `--json`. */
  note(line: string): void {
    if (!this.json) process.stderr.write(`${line}\n`);
  }

  /** A warning on stderr, printed also with `--json` (it may explain missing data later). */
  warn(line: string): void {
    process.stderr.write(`millrace: warning: ${line}\n`);
  }
}

/** `key: value` lines, nested objects indented, for plain output of stats. */
export function plainTree(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return `${String(value)}`;
  const lines: string[] = [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  if (entries.length === 0) return Array.isArray(value) ? '[]' : '{}';
  for (const [k, v] of entries) {
    if (v !== null && typeof v === 'object' && Object.keys(v).length > 0) lines.push(`${indent}${k}:\n${plainTree(v, `${indent}  `)}`);
    else lines.push(`${indent}${k}: ${plainTree(v)}`);
  }
  return lines.join('\n');
}
