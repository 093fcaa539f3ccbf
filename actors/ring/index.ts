/**
 * The SAB ring of the actor runtime: a single-producer single-consumer ring of variable-length
 * records shared between two threads (layout in ./ring-layout.ts).
 */
export { RingBuffer, type RecordHandler } from './ring-buffer.js';
export { type RingOptions } from './ring-options.js';
export { HEADER_LENGTH, PADDING_TYPE, RING_LAYOUT_VERSION, TRAILER_LENGTH, MIN_CAPACITY, MAX_CAPACITY } from './ring-layout.js';
export { FRAGMENT_HEADER, FragmentAssembler, copyRecord, recordLength, splitFragments, writeFragments, type RecordParts } from './fragments.js';
