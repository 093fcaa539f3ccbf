/**
 * The worker side of bench/ring.ts, one role per `workerData.mode`:
 * - ring-read: drains `count` records from a ring (batch read), then posts { count, sum }.
 * - pm-read: receives `count` postMessage payloads, acks every `ackEvery`, then posts { count, sum }.
 * - ring-ping / ring-pong: round trips through two rings; ping records each round trip's time.
 * - pm-ping / pm-pong: the same through a MessagePort pair.
 * - ring-idle: waits on an empty ring (waitForData) until a STOP record arrives.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RingBuffer } from '../../actors/ring/index.js';
import { STOP_TYPE } from './ring-protocol.js';

interface Job {
  mode: 'ring-read' | 'pm-read' | 'ring-ping' | 'ring-pong' | 'pm-ping' | 'pm-pong' | 'ring-idle';
  count: number;
  warmup?: number;
  size?: number;
  ackEvery?: number;
  ring?: SharedArrayBuffer;
  inRing?: SharedArrayBuffer;
  outRing?: SharedArrayBuffer;
  port?: MessagePort;
  spinIterations?: number;
}

const job = workerData as Job;
const parent = parentPort!;
const ringOptions = job.spinIterations === undefined ? {} : { spinIterations: job.spinIterations };

switch (job.mode) {
  case 'ring-read': ringRead(); break;
  case 'pm-read': pmRead(); break;
  case 'ring-ping': ringPing(); break;
  case 'ring-pong': ringPong(); break;
  case 'pm-ping': pmPing(); break;
  case 'pm-pong': pmPong(); break;
  case 'ring-idle': ringIdle(); break;
}

function ringRead(): void {
  const ring = RingBuffer.attach(job.ring!, ringOptions);
  let sum = 0;
  let count = 0;
  // The handler touches the payload (first and last byte), as a real consumer would.
  const handler = (_type: number, bytes: Uint8Array, offset: number, length: number): void => {
    sum += bytes[offset]! + bytes[offset + length - 1]!;
  };
  parent.postMessage({ ready: true });
  while (count < job.count) {
    if (ring.waitForData(1000)) count += ring.read(handler);
  }
  parent.postMessage({ count, sum });
}

function pmRead(): void {
  let sum = 0;
  let count = 0;
  const ackEvery = job.ackEvery!;
  parent.on('message', (m: Uint8Array) => {
    sum += m[0]! + m[m.length - 1]!;
    count++;
    if (count % ackEvery === 0) parent.postMessage({ ack: count });
    if (count === job.count) {
      parent.postMessage({ count, sum });
      parent.close();
    }
  });
  parent.postMessage({ ready: true });
}

function ringPing(): void {
  const out = RingBuffer.attach(job.outRing!, ringOptions);
  const inp = RingBuffer.attach(job.inRing!, ringOptions);
  const payload = new Uint8Array(job.size!).fill(7);
  const total = job.warmup! + job.count;
  const times = new Float64Array(job.count);
  const noop = (): void => {};
  for (let i = 0; i < total; i++) {
    const t0 = performance.now();
    out.writeBlocking(1, payload, 1000);
    while (!inp.waitForData(1000)) { /* the pong side is alive; keep waiting */ }
    inp.read(noop, 1);
    const dt = performance.now() - t0;
    if (i >= job.warmup!) times[i - job.warmup!] = dt * 1000;
  }
  out.writeBlocking(STOP_TYPE, payload, 1000);
  parent.postMessage({ times }, [times.buffer]);
}

function ringPong(): void {
  const inp = RingBuffer.attach(job.inRing!, ringOptions);
  const out = RingBuffer.attach(job.outRing!, ringOptions);
  let stop = false;
  const echo = (type: number, bytes: Uint8Array, offset: number, length: number): void => {
    if (type === STOP_TYPE) stop = true;
    else out.writeBlocking(type, bytes, 1000, offset, length);
  };
  while (!stop) {
    if (inp.waitForData(1000)) inp.read(echo);
  }
  parent.postMessage({ done: true });
}

function pmPing(): void {
  const port = job.port!;
  const payload = new Uint8Array(job.size!).fill(7);
  const total = job.warmup! + job.count;
  const times = new Float64Array(job.count);
  let i = 0;
  let t0 = performance.now();
  port.on('message', () => {
    const dt = performance.now() - t0;
    if (i >= job.warmup!) times[i - job.warmup!] = dt * 1000;
    i++;
    if (i === total) {
      port.postMessage(null);
      port.close();
      parent.postMessage({ times }, [times.buffer]);
      return;
    }
    t0 = performance.now();
    port.postMessage(payload);
  });
  t0 = performance.now();
  port.postMessage(payload);
}

function pmPong(): void {
  const port = job.port!;
  port.on('message', (m: Uint8Array | null) => {
    if (m === null) {
      port.close();
      return;
    }
    port.postMessage(m);
  });
}

function ringIdle(): void {
  const ring = RingBuffer.attach(job.ring!, ringOptions);
  let stop = false;
  const handler = (type: number): void => {
    if (type === STOP_TYPE) stop = true;
  };
  parent.postMessage({ ready: true });
  while (!stop) {
    if (ring.waitForData(500)) ring.read(handler);
  }
  parent.postMessage({ done: true });
}
