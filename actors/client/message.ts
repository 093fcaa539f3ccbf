/**
 * A message as a consumer or reader sees it: decoded lazily from the entry it arrived in, with no
 * copy of its value (a view into the entry, which belongs to this message's batch).
 */
import { MessageId } from '../../core/topic/index.js';
import { decodeProperties, type Schema } from '../../core/schema/index.js';
import type { DecodedEntry, DecodedMessage } from '../../wasm/index.js';

const utf8 = new TextDecoder();

/** A received message. `value` is decoded with the consumer's schema (bytes by default). */
export interface Message<T = Uint8Array> {
  readonly id: MessageId;
  readonly topic: string;
  /** The key as a string (UTF-8), undefined when the message has none. */
  readonly key: string | undefined;
  readonly keyBytes: Uint8Array | undefined;
  readonly value: T;
  /** The raw value bytes. */
  readonly data: Uint8Array;
  readonly properties: Record<string, string>;
  readonly publishTime: number;
  readonly eventTime: number | undefined;
  /** How many times this message was delivered before (durable across restarts). */
  readonly redeliveryCount: number;
  readonly producerName: string;
  readonly sequenceId: number | undefined;
}

export function toMessage<T>(topic: string, partition: number, ledgerId: number, entryId: number, entry: DecodedEntry,
  m: DecodedMessage, redeliveryCount: number, schema: Schema<T>): Message<T> {
  const data = m.value ?? new Uint8Array(0);
  let props: Record<string, string> | undefined;
  let value: T | undefined;
  let decoded = false;
  return {
    id: new MessageId(ledgerId, entryId, partition, m.index),
    topic,
    key: m.key ? utf8.decode(m.key) : undefined,
    keyBytes: m.key ?? undefined,
    get value(): T {
      if (!decoded) {
        value = schema.decode(data);
        decoded = true;
      }
      return value as T;
    },
    data,
    get properties(): Record<string, string> {
      return (props ??= decodeProperties(m.properties));
    },
    publishTime: entry.publishTime,
    eventTime: m.eventTime,
    redeliveryCount,
    producerName: utf8.decode(entry.producerName),
    sequenceId: m.sequenceId,
  };
}
