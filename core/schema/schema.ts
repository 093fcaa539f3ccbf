import { Packr, C1 } from 'msgpackr';
import { MillraceError } from '../errors.js';

/**
 * Value schemas: how a producer turns a value into payload bytes and a consumer turns them back.
 * A topic records the schema type it was created with; producers and consumers must use the same
 * type ({@link checkSchemaCompatible}). Schemas carry no version or structure yet (Pulsar's Avro,
 * Protobuf and schema evolution are later work); the type name is the whole contract.
 */

/** The schema types Millrace knows. */
export type SchemaType = 'bytes' | 'string' | 'json' | 'msgpack';

/** Encodes values of type `T` to payload bytes and back. */
export interface Schema<T> {
  readonly type: SchemaType;
  /**
   * The payload for `value`.
   * @throws MillraceError `INVALID_ARGUMENT` when `value` cannot be encoded by this schema.
   */
  encode(value: T): Uint8Array;
  /**
   * The value in `bytes`.
   * @throws MillraceError `SCHEMA_MISMATCH`, with the decoder's error as `cause`, when the bytes are
   *   not a valid payload of this schema.
   */
  decode(bytes: Uint8Array): T;
}

const SCHEMA_TYPES: readonly SchemaType[] = ['bytes', 'string', 'json', 'msgpack'];

const utf8Encoder = new TextEncoder();
// fatal: bytes that are not UTF-8 were not written by a string or json producer, so they are a
// mismatch to report, not text to patch with U+FFFD. ignoreBOM: a leading U+FEFF is part of the
// value (TextEncoder writes it), and dropping it would break encode/decode round trips.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * msgpack with `useRecords: false`: msgpackr's default record extension writes objects as
 * msgpackr-only records whose structures live in the encoder, so another client (Go, Python, Java)
 * could not read the payload, and neither could a consumer that did not see the structure first.
 * Plain maps keep every payload self-contained and standard. `int64AsType: 'auto'`: 64-bit integers
 * from other clients decode as numbers when they are safe integers, as bigints only when they are not.
 */
// msgpackr supports 'auto' at run time (unpack.js) but its typings list only bigint, number, string.
const packr = new Packr({ useRecords: false, int64AsType: 'auto' as 'bigint' });

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function encodeError(schema: SchemaType, message: string, cause?: unknown): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', `${schema} schema cannot encode the value: ${message}`, { retriable: false, cause });
}

function decodeError(schema: SchemaType, bytes: Uint8Array, cause: unknown): MillraceError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new MillraceError('SCHEMA_MISMATCH', `payload of ${bytes?.byteLength} bytes is not valid ${schema}: ${why}`, { retriable: false, cause });
}

function checkBytes(schema: SchemaType, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new MillraceError('INVALID_ARGUMENT', `${schema} schema decodes a Uint8Array, got ${typeName(bytes)}`);
  }
}

const bytesSchema: Schema<Uint8Array> = {
  type: 'bytes',
  // A string is sent as its UTF-8 bytes (the issue's contract: "strings are UTF-8"), as kafkajs and
  // the Pulsar Node client accept a string or a Buffer; anything else is refused.
  encode(value: Uint8Array | string) {
    if (typeof value === 'string') return utf8Encoder.encode(value);
    if (!(value instanceof Uint8Array)) throw encodeError('bytes', `expected a Uint8Array (or Buffer) or a string, got ${typeName(value)}`);
    return value;
  },
  // The same view, not a copy: whoever handed over the bytes owns them; copying is the caller's call.
  decode(bytes) {
    checkBytes('bytes', bytes);
    return bytes;
  },
};

const stringSchema: Schema<string> = {
  type: 'string',
  encode(value) {
    if (typeof value !== 'string') throw encodeError('string', `expected a string, got ${typeName(value)}`);
    return utf8Encoder.encode(value);
  },
  decode(bytes) {
    checkBytes('string', bytes);
    try {
      return utf8Decoder.decode(bytes);
    } catch (err) {
      throw decodeError('string', bytes, err);
    }
  },
};

const jsonSchema: Schema<unknown> = {
  type: 'json',
  encode(value) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      // BigInt values and cycles land here (TypeError from JSON.stringify).
      throw encodeError('json', (err as Error).message, err);
    }
    if (text === undefined) throw encodeError('json', `a ${typeName(value)} has no JSON form`);
    return utf8Encoder.encode(text);
  },
  decode(bytes) {
    checkBytes('json', bytes);
    try {
      return JSON.parse(utf8Decoder.decode(bytes)) as unknown;
    } catch (err) {
      throw decodeError('json', bytes, err);
    }
  },
};

const msgpackSchema: Schema<unknown> = {
  type: 'msgpack',
  encode(value) {
    try {
      return packr.pack(value);
    } catch (err) {
      // A cycle overflows the stack (RangeError), a too-large BigInt or a symbol throws.
      throw encodeError('msgpack', (err as Error).message, err);
    }
  },
  decode(bytes) {
    checkBytes('msgpack', bytes);
    if (bytes.byteLength === 0) throw decodeError('msgpack', bytes, new Error('empty payload'));
    let value: unknown;
    try {
      value = packr.unpack(bytes) as unknown;
    } catch (err) {
      throw decodeError('msgpack', bytes, err);
    }
    // msgpackr returns its C1 marker for the never-used byte 0xc1 instead of throwing. Checked at the
    // top level only: a deep scan would cost every message a second walk of its value.
    if (value === C1) throw decodeError('msgpack', bytes, new Error('0xc1 is not a msgpack value'));
    return value;
  },
};

/** The built-in schemas. */
export const Schemas = {
  /** Payloads as given: `Uint8Array` in, the same bytes out. */
  bytes: bytesSchema,
  /** Strings as UTF-8. */
  string: stringSchema,
  /** Values as JSON text in UTF-8; `T` is not checked on decode. */
  json<T = unknown>(): Schema<T> {
    return jsonSchema as Schema<T>;
  },
  /**
   * Values as standard msgpack (maps, not msgpackr records); `T` is not checked on decode. As with
   * JSON, -0 comes back as 0 (msgpackr writes it as the integer 0). A `__proto__` map key comes back
   * as `__proto_`: msgpackr renames it so that a payload can never set an object's prototype.
   */
  msgpack<T = unknown>(): Schema<T> {
    return msgpackSchema as Schema<T>;
  },
} as const;

/**
 * The built-in schema of a type, e.g. for a consumer that learns the type from the topic.
 * @throws MillraceError `INVALID_ARGUMENT` for an unknown type.
 */
export function schemaOf(type: SchemaType): Schema<unknown> {
  switch (type) {
    case 'bytes': return bytesSchema as Schema<unknown>;
    case 'string': return stringSchema as Schema<unknown>;
    case 'json': return jsonSchema;
    case 'msgpack': return msgpackSchema;
    default:
      throw new MillraceError('INVALID_ARGUMENT', `schema type must be one of ${SCHEMA_TYPES.join(', ')}, got ${String(type)}`);
  }
}

/**
 * The `schema` option of a producer, consumer or reader: `Schemas.bytes` when absent.
 * @throws MillraceError `INVALID_ARGUMENT` unless it is a {@link Schema} of a known type (an
 *   object with `type`, `encode` and `decode`): a string such as `'json'` was accepted and failed
 *   at the first send with a TypeError.
 */
export function schemaOption<T>(schema: Schema<T> | undefined): Schema<T> {
  if (schema === undefined) return bytesSchema as unknown as Schema<T>;
  const s = schema as Partial<Schema<T>> | null;
  if (s === null || typeof s !== 'object' || !isSchemaType(s.type) || typeof s.encode !== 'function' || typeof s.decode !== 'function') {
    throw new MillraceError('INVALID_ARGUMENT', `schema must be a Schema (Schemas.bytes, Schemas.string, Schemas.json() or Schemas.msgpack(), or an object with a type of ${SCHEMA_TYPES.join(', ')}, encode and decode), got ${typeof schema === 'string' ? `'${schema}'` : typeof schema === 'object' ? 'an object without them' : String(schema)}`);
  }
  return schema;
}

/** True when `type` is one of the known {@link SchemaType}s. */
export function isSchemaType(type: unknown): type is SchemaType {
  return typeof type === 'string' && (SCHEMA_TYPES as readonly string[]).includes(type);
}

/**
 * Checks that a producer or consumer schema matches the topic's. The rule is equality of type: a
 * payload written by one schema is not, in general, readable by another.
 *
 * @throws MillraceError `SCHEMA_MISMATCH` naming both types when they differ.
 */
export function checkSchemaCompatible(topicType: SchemaType, clientType: SchemaType): void {
  if (topicType !== clientType) {
    throw new MillraceError(
      'SCHEMA_MISMATCH',
      `the topic's schema is ${topicType} but the client's schema is ${clientType}; use Schemas.${topicType} or a topic created with ${clientType}`,
      { retriable: false },
    );
  }
}
