/**
 * The pipeline's three message formats, each a fixed little-endian layout (no schema library: the
 * training loop decodes millions of these, and a DataView read costs nothing next to msgpack).
 *
 * ```
 * Event, version 1 (events topic; 16 bytes)
 *  0          4          8          12     13       14         15        16
 *  +----------+----------+----------+------+--------+----------+---------+
 *  | id u32   | user u32 | ad u32   | hour | device | position | clicked |
 *  +----------+----------+----------+------+--------+----------+---------+
 *
 * Feature vector, version 1 (features topic; 8 + 8 x nnz bytes)
 *  0            4       5     6       8
 *  +------------+-------+-----+-------+---- nnz x ------------------+
 *  | eventId u32| label | nnz | rsv16 | index u32 | value f32       |
 *  +------------+-------+-----+-------+-----------------------------+
 *
 * Feedback, version 1 (feedback topic; 12 bytes)
 *  0            4             8          12
 *  +------------+-------------+----------+
 *  | eventId u32| error f32   | epoch u32|
 *  +------------+-------------+----------+
 * ```
 * A message shorter than its layout says is refused with INVALID_ARGUMENT, never read past its end.
 */
import { MillraceError } from '../index.js';

/** One synthetic ad impression: who saw which ad, when, where on the page, and whether they clicked. */
export interface RawEvent {
  id: number;
  user: number;
  ad: number;
  /** 0..23 */
  hour: number;
  /** 0 desktop, 1 phone, 2 tablet */
  device: number;
  /** Slot on the page, 0 (top) .. 4 */
  position: number;
  /** The label: 1 when the user clicked. */
  clicked: number;
}

/** A sparse feature vector with its label, as the features topic carries it. */
export interface FeatureVector {
  eventId: number;
  label: number;
  indexes: Uint32Array;
  values: Float32Array;
}

export const EVENT_BYTES = 16;
const FEATURE_HEADER = 8;
export const FEEDBACK_BYTES = 12;

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function short(what: string, got: number, want: number): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', `a ${what} message needs ${want} bytes, got ${got}`);
}

export function encodeEvent(e: RawEvent): Uint8Array {
  const b = new Uint8Array(EVENT_BYTES);
  const v = view(b);
  v.setUint32(0, e.id, true);
  v.setUint32(4, e.user, true);
  v.setUint32(8, e.ad, true);
  b[12] = e.hour;
  b[13] = e.device;
  b[14] = e.position;
  b[15] = e.clicked;
  return b;
}

export function decodeEvent(b: Uint8Array): RawEvent {
  if (b.length < EVENT_BYTES) throw short('event', b.length, EVENT_BYTES);
  const v = view(b);
  return { id: v.getUint32(0, true), user: v.getUint32(4, true), ad: v.getUint32(8, true), hour: b[12]!, device: b[13]!, position: b[14]!, clicked: b[15]! };
}

export function encodeFeatures(f: FeatureVector): Uint8Array {
  const nnz = f.indexes.length;
  const b = new Uint8Array(FEATURE_HEADER + 8 * nnz);
  const v = view(b);
  v.setUint32(0, f.eventId, true);
  b[4] = f.label;
  b[5] = nnz;
  for (let i = 0; i < nnz; i++) {
    v.setUint32(FEATURE_HEADER + 8 * i, f.indexes[i]!, true);
    v.setFloat32(FEATURE_HEADER + 8 * i + 4, f.values[i]!, true);
  }
  return b;
}

/** The event ID of a feature message, without decoding the rest. */
export function featureEventId(b: Uint8Array): number {
  if (b.length < FEATURE_HEADER) throw short('feature', b.length, FEATURE_HEADER);
  return view(b).getUint32(0, true);
}

export function decodeFeatures(b: Uint8Array): FeatureVector {
  if (b.length < FEATURE_HEADER) throw short('feature', b.length, FEATURE_HEADER);
  const v = view(b);
  const nnz = b[5]!;
  if (b.length < FEATURE_HEADER + 8 * nnz) throw short('feature', b.length, FEATURE_HEADER + 8 * nnz);
  const indexes = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  for (let i = 0; i < nnz; i++) {
    indexes[i] = v.getUint32(FEATURE_HEADER + 8 * i, true);
    values[i] = v.getFloat32(FEATURE_HEADER + 8 * i + 4, true);
  }
  return { eventId: v.getUint32(0, true), label: b[4]!, indexes, values };
}

export interface Feedback {
  eventId: number;
  /** |label - predicted probability|, in (0.5, 1] for a misclassified example. */
  error: number;
  epoch: number;
}

export function encodeFeedback(f: Feedback): Uint8Array {
  const b = new Uint8Array(FEEDBACK_BYTES);
  const v = view(b);
  v.setUint32(0, f.eventId, true);
  v.setFloat32(4, f.error, true);
  v.setUint32(8, f.epoch, true);
  return b;
}

export function decodeFeedback(b: Uint8Array): Feedback {
  if (b.length < FEEDBACK_BYTES) throw short('feedback', b.length, FEEDBACK_BYTES);
  const v = view(b);
  return { eventId: v.getUint32(0, true), error: v.getFloat32(4, true), epoch: v.getUint32(8, true) };
}
