import { Packr } from 'msgpackr';
import { MillraceError } from '../errors.js';

/**
 * Message properties (Pulsar's string-to-string map on every message), stored in an entry as one
 * msgpack map of string keys to string values. `useRecords: false` keeps it standard msgpack (see
 * `schema.ts`); `mapsAsObjects: false` on decode gives a `Map`, so a key that was written as a
 * number, or a `__proto__` key, is seen as it is rather than coerced into an object property.
 */
const packr = new Packr({ useRecords: false });
const unpackr = new Packr({ useRecords: false, mapsAsObjects: false });

function bad(message: string, cause?: unknown): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message, { retriable: false, cause });
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/**
 * The stored form of `props`, or `null` when there are none (`undefined` or `{}`): most messages
 * carry no properties, and `null` costs an entry nothing.
 *
 * @throws MillraceError `INVALID_ARGUMENT` when `props` is not a plain object or a value is not a string.
 */
export function encodeProperties(props: Record<string, string> | undefined): Uint8Array | null {
  if (props === undefined || props === null) return null;
  const proto = typeof props === 'object' ? Object.getPrototypeOf(props) : undefined;
  if (typeof props !== 'object' || (proto !== Object.prototype && proto !== null)) {
    throw bad(`message properties must be a plain object of string keys to string values, got ${props instanceof Map ? 'a Map' : describe(props)}`);
  }
  const keys = Object.keys(props);
  if (keys.length === 0) return null;
  for (const k of keys) {
    const v = props[k];
    if (typeof v !== 'string') throw bad(`message property ${JSON.stringify(k)} must have a string value, got ${describe(v)}`);
  }
  return packr.pack(props);
}

/**
 * The properties in `bytes` (the form {@link encodeProperties} writes); `{}` for `null`, `undefined`
 * or no bytes.
 *
 * @throws MillraceError `INVALID_ARGUMENT` (with the decoder's error as `cause`) when the bytes are
 *   not a msgpack map of string keys to string values.
 */
export function decodeProperties(bytes: Uint8Array | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (bytes === null || bytes === undefined || bytes.byteLength === 0) return out;
  if (!(bytes instanceof Uint8Array)) throw bad(`message properties decode from a Uint8Array, got ${describe(bytes)}`);
  let decoded: unknown;
  try {
    decoded = unpackr.unpack(bytes);
  } catch (err) {
    throw bad(`message properties (${bytes.byteLength} bytes) are not valid msgpack: ${(err as Error).message}`, err);
  }
  if (!(decoded instanceof Map)) throw bad(`message properties must be a msgpack map, got ${describe(decoded)}`);
  for (const [k, v] of decoded) {
    if (typeof k !== 'string' || typeof v !== 'string') {
      throw bad(`message properties must map strings to strings, got a ${describe(k)} key ${JSON.stringify(String(k))} with a ${describe(v)} value`);
    }
    // defineProperty: a plain assignment of "__proto__" would set the prototype, not a property.
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}
