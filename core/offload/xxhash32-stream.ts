/**
 * Streaming xxHash32 (seed 0): the same function as wasm/xxhash32.ts, fed in pieces. The project's
 * WASM and JS versions hash one buffer at a time; an offloaded ledger's data region is hundreds of MB
 * written as a stream, so it needs the running form. Differential-tested against wasm/xxhash32.ts.
 */
import { endianness } from 'node:os';
import { P1, P2, P5, rotl, xxhash32Tail } from '../../wasm/xxhash32.js';

const LE = endianness() === 'LE';

/** Incremental xxHash32: `update` any number of times, then `digest` once. */
export class XxHash32Stream {
  private v1 = (P1 + P2) | 0;
  private v2 = P2 | 0;
  private v3 = 0;
  private v4 = (-P1) | 0;
  private total = 0;
  /** Bytes of an unfinished 16-byte stripe carried to the next update. */
  private readonly carry = new Uint8Array(16);
  private readonly carryView = new DataView(this.carry.buffer);
  private carryLen = 0;

  update(bytes: Uint8Array): void {
    let p = 0;
    const end = bytes.length;
    this.total += end;
    if (this.carryLen > 0) {
      const n = Math.min(16 - this.carryLen, end);
      this.carry.set(bytes.subarray(0, n), this.carryLen);
      this.carryLen += n;
      p = n;
      if (this.carryLen < 16) return;
      this.stripes(this.carry, 0, 16);
      this.carryLen = 0;
    }
    const bulkEnd = p + ((end - p) & ~15);
    if (bulkEnd > p) this.stripes(bytes, p, bulkEnd);
    if (bulkEnd < end) {
      this.carry.set(bytes.subarray(bulkEnd, end), 0);
      this.carryLen = end - bulkEnd;
    }
  }

  digest(): number {
    let h: number;
    if (this.total >= 16) {
      h = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0;
    } else {
      h = P5 | 0;
    }
    // The length term is the total modulo 2^32, as the reference's `(h + len) | 0`.
    h = (h + (this.total % 0x1_0000_0000)) | 0;
    return xxhash32Tail(h, this.carry, this.carryView, 0, this.carryLen);
  }

  /** Hashes whole stripes of bytes[start, end) ((end - start) % 16 === 0). */
  private stripes(bytes: Uint8Array, start: number, end: number): void {
    let v1 = this.v1, v2 = this.v2, v3 = this.v3, v4 = this.v4;
    const abs = bytes.byteOffset + start;
    if (LE && (abs & 3) === 0) {
      // Aligned: read words straight from an Int32Array view, ~2x the byte-assembling loop.
      const w = new Int32Array(bytes.buffer, abs, (end - start) >>> 2);
      for (let i = 0; i < w.length; i += 4) {
        v1 = Math.imul(rotl((v1 + Math.imul(w[i]!, P2)) | 0, 13), P1);
        v2 = Math.imul(rotl((v2 + Math.imul(w[i + 1]!, P2)) | 0, 13), P1);
        v3 = Math.imul(rotl((v3 + Math.imul(w[i + 2]!, P2)) | 0, 13), P1);
        v4 = Math.imul(rotl((v4 + Math.imul(w[i + 3]!, P2)) | 0, 13), P1);
      }
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      for (let p = start; p < end; p += 16) {
        v1 = Math.imul(rotl((v1 + Math.imul(dv.getInt32(p, true), P2)) | 0, 13), P1);
        v2 = Math.imul(rotl((v2 + Math.imul(dv.getInt32(p + 4, true), P2)) | 0, 13), P1);
        v3 = Math.imul(rotl((v3 + Math.imul(dv.getInt32(p + 8, true), P2)) | 0, 13), P1);
        v4 = Math.imul(rotl((v4 + Math.imul(dv.getInt32(p + 12, true), P2)) | 0, 13), P1);
      }
    }
    this.v1 = v1; this.v2 = v2; this.v3 = v3; this.v4 = v4;
  }
}

/** xxHash32 (seed 0) of a whole buffer through the streaming code (one call). */
export function xxhash32Of(bytes: Uint8Array): number {
  const h = new XxHash32Stream();
  h.update(bytes);
  return h.digest();
}
