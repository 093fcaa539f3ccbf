/**
 * A history checker for queues and streams, after Jepsen's queue checker (lost, duplicated,
 * unexpected, recovered) with the anomalies a Pulsar-style broker adds: order per partition and per
 * key, reads of failed sends, message IDs reused, messages stored twice.
 *
 * A history is a list of events in the order they happened (real time): sends with their outcome,
 * receives, acks, subscriptions and seeks. Every message is named by its value's identity (a
 * string the test chooses: unique per logical message, as Jepsen's queue values are), so a report
 * names the messages concerned. The checker is pure: it reads the history and says what is wrong.
 *
 * What counts:
 * - A send is `ok` once `send()` resolved (the broker acknowledged it), `failed` once it rejected
 *   (the broker promised it is not stored), `unknown` when the outcome never arrived (a crash).
 *   An `ok` send must reach every subscription that should see it; a `failed` one must never be
 *   read; an `unknown` one may or may not appear.
 * - An ack is counted once it resolved (`outcome: 'ok'`): a later receive of that message on the
 *   same subscription (without a seek since) is a duplicate after ack.
 */

/** How a send ended. */
export type SendOutcome = 'ok' | 'failed' | 'unknown';

/** Subscription types whose deliveries are ordered (per partition, and per key on key_shared). */
export type SubscriptionKind = 'exclusive' | 'failover' | 'shared' | 'key_shared' | 'reader';

/** A send: recorded at the call (`unknown`), then again with its outcome; the last record wins. */
export interface SendEvent {
  type: 'send';
  /** The message's identity: unique per logical message (a resend with the same sequence ID keeps it). */
  value: string;
  key?: string | undefined;
  producer?: string | undefined;
  /** Call order within the producer: sends of one producer to one partition are stored in this order. */
  seq?: number | undefined;
  outcome: SendOutcome;
  /** The message ID the send resolved with (`ledger:entry:partition:batch`); a duplicate's is `-1:-1:p:-1`. */
  id?: string | undefined;
  /** Why it failed (an error code), for the report. */
  error?: string | undefined;
}

/** A subscription (or reader) came into being: which sends it should see. */
export interface SubscribeEvent {
  type: 'subscribe';
  subscription: string;
  kind: SubscriptionKind;
  /** `earliest`: every send; `latest`: sends called after this event. */
  initialPosition: 'earliest' | 'latest';
  consumer?: string | undefined;
}

/** The application got a message. */
export interface ReceiveEvent {
  type: 'receive';
  subscription: string;
  consumer?: string | undefined;
  value: string;
  key?: string | undefined;
  id: string;
  redeliveryCount?: number | undefined;
}

/** An ack (individual or cumulative), recorded with its outcome once it settled. */
export interface AckEvent {
  type: 'ack';
  subscription: string;
  consumer?: string | undefined;
  value: string;
  id: string;
  cumulative?: boolean | undefined;
  outcome: 'ok' | 'failed' | 'unknown';
}

/** A seek moved the subscription: acked messages after the target may legitimately come again. */
export interface SeekEvent {
  type: 'seek';
  subscription: string;
  consumer?: string | undefined;
  target: string;
}

/** A message was sent to the dead-letter topic instead of being delivered again. */
export interface DeadLetterEvent {
  type: 'dead-letter';
  subscription: string;
  value: string;
}

export type HistoryEvent = SendEvent | SubscribeEvent | ReceiveEvent | AckEvent | SeekEvent | DeadLetterEvent;

/** The kinds of anomaly the checker reports. */
export type AnomalyKind =
  /** An acknowledged send never reached a subscription that should see it. */
  | 'lost'
  /** A message came again on a subscription after its ack resolved (and no seek since). */
  | 'duplicate-after-ack'
  /** One logical message stored under two message IDs (deduplication failed). */
  | 'stored-twice'
  /** A message a failed send promised was not stored. */
  | 'read-of-failed-send'
  /** A message nobody sent, or whose key differs from the one sent. */
  | 'unexpected'
  /** Two messages under one message ID. */
  | 'id-reuse'
  /** A producer's sends to one partition got IDs out of call order (G2). */
  | 'send-order'
  /** On an exclusive or failover subscription or a reader, a message was first received before an earlier one of its partition. */
  | 'partition-order'
  /** On an ordered subscription (key_shared too), a message was first received before an earlier one of its key (G3). */
  | 'key-order';

/** One anomaly, with the messages it concerns. */
export interface Anomaly {
  kind: AnomalyKind;
  /** A sentence naming the messages, the subscription and the IDs. */
  message: string;
  values: string[];
  subscription?: string | undefined;
}

/** What {@link checkHistory} found. */
export interface HistoryReport {
  /** True when no anomaly was found. */
  readonly valid: boolean;
  readonly anomalies: Anomaly[];
  /** Anomalies counted by kind. */
  readonly counts: Partial<Record<AnomalyKind, number>>;
  /** Figures of the history: sends by outcome, receives, acks, subscriptions. */
  readonly stats: { sendsOk: number; sendsFailed: number; sendsUnknown: number; receives: number; acks: number; subscriptions: number; unknownRecovered: number };
  /** A readable report: one line per anomaly (the first `limit`), then the counts. */
  format(limit?: number): string;
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Check that every `ok` send reached every subscription that should see it. Off when the run did not drain. @default true */
  checkLost?: boolean;
  /** Subscriptions exempt from the lost check (e.g. readers stopped early). */
  partialSubscriptions?: Iterable<string>;
  /**
   * Subscription kinds checked for first-receipt order per partition (exclusive, failover, reader)
   * and per key (those and key_shared). Shared has no order. @default true
   */
  checkOrder?: boolean;
}

/** A parsed `ledger:entry:partition:batch`. */
interface Id { l: number; e: number; p: number; b: number; s: string }

function parseId(s: string): Id | undefined {
  const parts = s.split(':');
  if (parts.length !== 4) return undefined;
  const [l, e, p, b] = parts.map(Number) as [number, number, number, number];
  if (![l, e, p, b].every(Number.isFinite)) return undefined;
  return { l, e, p, b, s };
}

/** Order of two IDs of one partition. */
function cmp(a: Id, b: Id): number {
  return a.l - b.l || a.e - b.e || a.b - b.b;
}

const stored = (id: Id | undefined): id is Id => id !== undefined && id.l >= 0 && id.e >= 0;

interface Logical {
  value: string;
  key: string | undefined;
  outcome: SendOutcome;
  /** Index in the history of the first send call: a `latest` subscription sees it when created before. */
  firstCall: number;
  producer: string | undefined;
  seq: number | undefined;
  ids: Set<string>;
  error: string | undefined;
}

interface SubState {
  name: string;
  kind: SubscriptionKind;
  earliest: boolean;
  createdAt: number;
  received: Map<string, number>;
  /** Values whose ack resolved, since the last seek. */
  acked: Set<string>;
  /** Cumulative ack floor per partition, since the last seek. */
  floors: Map<number, Id>;
  /** Last first-received ID per partition and per key (ordered kinds). */
  lastByPartition: Map<number, { id: Id; value: string }>;
  lastByKey: Map<string, { id: Id; value: string }>;
  deadLettered: Set<string>;
}

const ORDERED_PARTITION: ReadonlySet<SubscriptionKind> = new Set(['exclusive', 'failover', 'reader']);
const ORDERED_KEY: ReadonlySet<SubscriptionKind> = new Set(['exclusive', 'failover', 'reader', 'key_shared']);

/**
 * Checks a history; see the module comment for what each event means. Returns every anomaly found,
 * each naming its messages; `report.format()` prints them.
 */
export function checkHistory(history: readonly HistoryEvent[], options: CheckOptions = {}): HistoryReport {
  const anomalies: Anomaly[] = [];
  const add = (kind: AnomalyKind, message: string, values: string[], subscription?: string): void => {
    anomalies.push({ kind, message, values, ...(subscription === undefined ? {} : { subscription }) });
  };
  const messages = new Map<string, Logical>();
  const subs = new Map<string, SubState>();
  /** Message ID -> the value first seen under it. */
  const byId = new Map<string, string>();
  let receives = 0;
  let acks = 0;

  const noteId = (value: string, idStr: string | undefined, where: string): void => {
    const id = idStr === undefined ? undefined : parseId(idStr);
    if (!stored(id)) return;
    const other = byId.get(id.s);
    if (other === undefined) byId.set(id.s, value);
    else if (other !== value) add('id-reuse', `message ID ${id.s} names two messages: ${JSON.stringify(other)} and ${JSON.stringify(value)} (${where})`, [other, value]);
    const m = messages.get(value);
    if (m) m.ids.add(id.s);
  };

  const subOf = (name: string, at: number): SubState => {
    let s = subs.get(name);
    if (!s) {
      // A subscription never declared: assume it sees everything and has no order to keep.
      s = newSub(name, 'shared', true, at);
      subs.set(name, s);
    }
    return s;
  };

  history.forEach((ev, at) => {
    switch (ev.type) {
      case 'send': {
        let m = messages.get(ev.value);
        if (!m) {
          m = { value: ev.value, key: ev.key, outcome: ev.outcome, firstCall: at, producer: ev.producer, seq: ev.seq, ids: new Set(), error: ev.error };
          messages.set(ev.value, m);
        } else if (ev.outcome !== 'unknown') {
          // A resend of one logical message: ok wins over failed (the resend stored it).
          if (m.outcome !== 'ok') m.outcome = ev.outcome;
          if (ev.error !== undefined) m.error = ev.error;
          m.seq ??= ev.seq;
        }
        noteId(ev.value, ev.id, `send of ${JSON.stringify(ev.value)}`);
        return;
      }
      case 'subscribe': {
        if (!subs.has(ev.subscription)) subs.set(ev.subscription, newSub(ev.subscription, ev.kind, ev.initialPosition === 'earliest', at));
        return;
      }
      case 'dead-letter': {
        subOf(ev.subscription, at).deadLettered.add(ev.value);
        return;
      }
      case 'seek': {
        const s = subOf(ev.subscription, at);
        s.acked.clear();
        s.floors.clear();
        return;
      }
      case 'ack': {
        acks++;
        if (ev.outcome !== 'ok') return;
        const s = subOf(ev.subscription, at);
        s.acked.add(ev.value);
        const id = parseId(ev.id);
        if (ev.cumulative && stored(id)) {
          const f = s.floors.get(id.p);
          if (!f || cmp(id, f) > 0) s.floors.set(id.p, id);
        }
        return;
      }
      case 'receive': {
        receives++;
        const s = subOf(ev.subscription, at);
        const m = messages.get(ev.value);
        const id = parseId(ev.id);
        const who = `${ev.subscription}${ev.consumer ? `/${ev.consumer}` : ''}`;
        if (!m) {
          add('unexpected', `${who} received ${JSON.stringify(ev.value)} (${ev.id}), which was never sent`, [ev.value], ev.subscription);
        } else {
          if (m.outcome === 'failed') {
            add('read-of-failed-send', `${who} received ${JSON.stringify(ev.value)} (${ev.id}), whose send failed${m.error ? ` with ${m.error}` : ''}`, [ev.value], ev.subscription);
          }
          if ((m.key ?? '') !== (ev.key ?? '')) {
            add('unexpected', `${who} received ${JSON.stringify(ev.value)} with key ${JSON.stringify(ev.key)}, sent with key ${JSON.stringify(m.key)}`, [ev.value], ev.subscription);
          }
        }
        noteId(ev.value, ev.id, `received by ${who}`);
        const floor = stored(id) ? s.floors.get(id.p) : undefined;
        if (s.acked.has(ev.value) || (floor && stored(id) && cmp(id, floor) <= 0)) {
          add('duplicate-after-ack', `${who} received ${JSON.stringify(ev.value)} (${ev.id}) again after its ack resolved`, [ev.value], ev.subscription);
        }
        const first = !s.received.has(ev.value);
        s.received.set(ev.value, (s.received.get(ev.value) ?? 0) + 1);
        if (first && stored(id) && options.checkOrder !== false) {
          const cur = { id, value: ev.value };
          if (ORDERED_PARTITION.has(s.kind)) {
            const prev = s.lastByPartition.get(id.p);
            if (prev && cmp(id, prev.id) < 0) {
              add('partition-order', `${who} first received ${JSON.stringify(ev.value)} (${id.s}) after ${JSON.stringify(prev.value)} (${prev.id.s}), later in partition ${id.p}`, [prev.value, ev.value], ev.subscription);
            }
            if (!prev || cmp(id, prev.id) > 0) s.lastByPartition.set(id.p, cur);
          }
          if (ORDERED_KEY.has(s.kind) && ev.key !== undefined) {
            const k = `${id.p}\u0000${ev.key}`;
            const prev = s.lastByKey.get(k);
            if (prev && cmp(id, prev.id) < 0) {
              add('key-order', `${who} first received ${JSON.stringify(ev.value)} (${id.s}) of key ${JSON.stringify(ev.key)} after ${JSON.stringify(prev.value)} (${prev.id.s}), later in that key's order`, [prev.value, ev.value], ev.subscription);
            }
            if (!prev || cmp(id, prev.id) > 0) s.lastByKey.set(k, cur);
          }
        }
        return;
      }
    }
  });

  // One logical message stored under two IDs: deduplication failed (or a resend was not deduplicated).
  for (const m of messages.values()) {
    if (m.ids.size > 1) add('stored-twice', `${JSON.stringify(m.value)} is stored under ${m.ids.size} message IDs: ${[...m.ids].join(', ')}`, [m.value]);
  }

  // A producer's sends to one partition are stored in call order (G2: IDs strictly increase).
  const lanes = new Map<string, { seq: number; id: Id; value: string }[]>();
  for (const m of messages.values()) {
    if (m.outcome !== 'ok' || m.producer === undefined || m.seq === undefined) continue;
    for (const s of m.ids) {
      const id = parseId(s)!;
      const k = `${m.producer}\u0000${id.p}`;
      let lane = lanes.get(k);
      if (!lane) lanes.set(k, (lane = []));
      lane.push({ seq: m.seq, id, value: m.value });
    }
  }
  for (const [k, lane] of lanes) {
    lane.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < lane.length; i++) {
      const a = lane[i - 1]!;
      const b = lane[i]!;
      if (cmp(b.id, a.id) <= 0) {
        add('send-order', `producer ${k.split('\u0000')[0]} sent ${JSON.stringify(a.value)} before ${JSON.stringify(b.value)}, but they got IDs ${a.id.s} and ${b.id.s} on partition ${a.id.p}`, [a.value, b.value]);
      }
    }
  }

  // Lost: an acknowledged send never received on a subscription that should see it.
  const partial = new Set(options.partialSubscriptions ?? []);
  let unknownRecovered = 0;
  for (const m of messages.values()) {
    if (m.outcome !== 'unknown') continue;
    for (const s of subs.values()) if (s.received.has(m.value)) { unknownRecovered++; break; }
  }
  if (options.checkLost !== false) {
    for (const s of subs.values()) {
      if (partial.has(s.name)) continue;
      const lost: string[] = [];
      for (const m of messages.values()) {
        if (m.outcome !== 'ok' || s.received.has(m.value) || s.deadLettered.has(m.value)) continue;
        if (!s.earliest && m.firstCall < s.createdAt) continue;
        lost.push(m.value);
      }
      if (lost.length > 0) {
        const shown = lost.slice(0, 10).map((v) => `${JSON.stringify(v)}${idsOf(messages.get(v)!)}`).join(', ');
        add('lost', `${s.name} never received ${lost.length} acknowledged message(s): ${shown}${lost.length > 10 ? ', ...' : ''}`, lost, s.name);
      }
    }
  }

  let sendsOk = 0;
  let sendsFailed = 0;
  let sendsUnknown = 0;
  for (const m of messages.values()) {
    if (m.outcome === 'ok') sendsOk++;
    else if (m.outcome === 'failed') sendsFailed++;
    else sendsUnknown++;
  }
  const counts: Partial<Record<AnomalyKind, number>> = {};
  for (const a of anomalies) counts[a.kind] = (counts[a.kind] ?? 0) + 1;
  const stats = { sendsOk, sendsFailed, sendsUnknown, receives, acks, subscriptions: subs.size, unknownRecovered };
  return {
    valid: anomalies.length === 0,
    anomalies,
    counts,
    stats,
    format(limit = 20): string {
      const head = `history: ${sendsOk} sends ok, ${sendsFailed} failed, ${sendsUnknown} unknown (${unknownRecovered} of them delivered), ${receives} receives, ${acks} acks, ${subs.size} subscriptions`;
      if (anomalies.length === 0) return `${head}\nno anomalies`;
      const lines = anomalies.slice(0, limit).map((a) => `  ${a.kind}: ${a.message}`);
      if (anomalies.length > limit) lines.push(`  ... and ${anomalies.length - limit} more`);
      const byKind = Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ');
      return `${head}\n${anomalies.length} anomalies (${byKind}):\n${lines.join('\n')}`;
    },
  };
}

function idsOf(m: Logical): string {
  return m.ids.size > 0 ? ` (${[...m.ids].join(', ')})` : '';
}

function newSub(name: string, kind: SubscriptionKind, earliest: boolean, createdAt: number): SubState {
  return {
    name, kind, earliest, createdAt, received: new Map(), acked: new Set(), floors: new Map(),
    lastByPartition: new Map(), lastByKey: new Map(), deadLettered: new Set(),
  };
}
