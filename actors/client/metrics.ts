/**
 * Broker metrics, for operators: per topic the message and byte counters, storage by tier, and per
 * subscription the backlog, unacked messages and consumers; per thread the append latency histogram.
 * Two ways out: the Prometheus text exposition format (`prometheus()`, for a `/metrics` endpoint),
 * and OpenTelemetry (`Broker.open({ meter })` with a Meter from `@opentelemetry/api`, an optional
 * peer dependency: Millrace only calls the Meter it is given, so it needs no import of its own).
 */
import { appendLatency, type HistogramSnapshot } from '../../core/observability/histogram.js';
import type { PartitionStats } from '../partition/partition-protocol.js';

/** One topic's figures, summed over its loaded partitions. */
export interface TopicMetrics {
  msgInCounter: number;
  bytesInCounter: number;
  msgOutCounter: number;
  bytesOutCounter: number;
  localStorageBytes: number;
  offloadedStorageBytes: number;
  producers: number;
  subscriptions: Record<string, { backlog: number; unacked: number; consumers: number }>;
}

/** What {@link Metrics.collect} returns. */
export interface MetricsSnapshot {
  topics: Record<string, TopicMetrics>;
  /** Append round trips of this thread's producers (per batch), seconds. */
  appendLatency: HistogramSnapshot;
}

/**
 * The part of OpenTelemetry's `Meter` Millrace uses (structurally typed: pass the real one). Each
 * observable is read in one batch callback per collection.
 */
export interface MeterLike {
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): ObservableLike;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): ObservableLike;
  createHistogram(name: string, options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } }): { record(value: number, attributes?: Record<string, string>): void };
  addBatchObservableCallback(callback: (result: { observe(o: ObservableLike, value: number, attributes?: Record<string, string>): void }) => void | Promise<void>, observables: ObservableLike[]): void;
}
/** An OpenTelemetry observable instrument (opaque here). */
export type ObservableLike = object;

/** Where the figures come from: every loaded partition with its topic. */
export type PartitionStatsSource = () => Promise<{ topic: string; stats: PartitionStats }[]>;

const COUNTERS = [
  ['millrace_messages_in_total', 'msgInCounter', 'Messages appended to the topic'],
  ['millrace_bytes_in_total', 'bytesInCounter', 'Bytes appended to the topic (framed entries)'],
  ['millrace_messages_out_total', 'msgOutCounter', 'Messages delivered to consumers'],
  ['millrace_bytes_out_total', 'bytesOutCounter', 'Bytes delivered to consumers'],
] as const;

export class Metrics {
  /** @internal */
  constructor(private readonly source: PartitionStatsSource) {}

  /** The figures of every loaded topic now. */
  async collect(): Promise<MetricsSnapshot> {
    const topics: Record<string, TopicMetrics> = {};
    for (const { topic, stats: s } of await this.source()) {
      const t = topics[topic] ??= {
        msgInCounter: 0, bytesInCounter: 0, msgOutCounter: 0, bytesOutCounter: 0,
        localStorageBytes: 0, offloadedStorageBytes: 0, producers: 0, subscriptions: {},
      };
      t.msgInCounter += s.msgInCounter;
      t.bytesInCounter += s.bytesInCounter;
      t.msgOutCounter += s.msgOutCounter;
      t.bytesOutCounter += s.bytesOutCounter;
      t.localStorageBytes += s.localStorageSize;
      t.offloadedStorageBytes += s.offloadedStorageSize;
      t.producers = Math.max(t.producers, s.publishers.length);
      for (const [name, sub] of Object.entries(s.subscriptions)) {
        const m = t.subscriptions[name] ??= { backlog: 0, unacked: 0, consumers: 0 };
        m.backlog += sub.msgBacklog;
        m.unacked += sub.unackedMessages;
        m.consumers = Math.max(m.consumers, sub.consumers.length);
      }
    }
    return { topics, appendLatency: appendLatency.snapshot() };
  }

  /** The figures in Prometheus' text exposition format (version 0.0.4). */
  async prometheus(): Promise<string> {
    const snap = await this.collect();
    const out: string[] = [];
    const topics = Object.entries(snap.topics);
    for (const [name, field, help] of COUNTERS) {
      out.push(`# HELP ${name} ${help}.`, `# TYPE ${name} counter`);
      for (const [topic, t] of topics) out.push(`${name}{topic="${esc(topic)}"} ${t[field]}`);
    }
    out.push('# HELP millrace_storage_bytes Bytes stored for the topic, by tier.', '# TYPE millrace_storage_bytes gauge');
    for (const [topic, t] of topics) {
      out.push(`millrace_storage_bytes{topic="${esc(topic)}",tier="local"} ${t.localStorageBytes}`);
      out.push(`millrace_storage_bytes{topic="${esc(topic)}",tier="offloaded"} ${t.offloadedStorageBytes}`);
    }
    out.push('# HELP millrace_producers Producers connected to the topic.', '# TYPE millrace_producers gauge');
    for (const [topic, t] of topics) out.push(`millrace_producers{topic="${esc(topic)}"} ${t.producers}`);
    for (const [name, field, help] of [
      ['millrace_subscription_backlog_messages', 'backlog', 'Messages not yet acked on the subscription'],
      ['millrace_subscription_unacked_messages', 'unacked', 'Messages delivered to consumers and not yet acked'],
      ['millrace_subscription_consumers', 'consumers', 'Consumers connected to the subscription'],
    ] as const) {
      out.push(`# HELP ${name} ${help}.`, `# TYPE ${name} gauge`);
      for (const [topic, t] of topics) {
        for (const [sub, m] of Object.entries(t.subscriptions)) out.push(`${name}{topic="${esc(topic)}",subscription="${esc(sub)}"} ${m[field]}`);
      }
    }
    const h = snap.appendLatency;
    out.push('# HELP millrace_append_latency_seconds Append round trips of producer batches, until durable.', '# TYPE millrace_append_latency_seconds histogram');
    let cumulative = 0;
    h.bounds.forEach((b, i) => {
      cumulative += h.counts[i]!;
      out.push(`millrace_append_latency_seconds_bucket{le="${b}"} ${cumulative}`);
    });
    out.push(`millrace_append_latency_seconds_bucket{le="+Inf"} ${h.count}`);
    out.push(`millrace_append_latency_seconds_sum ${h.sum}`, `millrace_append_latency_seconds_count ${h.count}`);
    return `${out.join('\n')}\n`;
  }

  /**
   * Registers the figures with an OpenTelemetry Meter: observable counters and gauges read in one
   * batch per collection, and the append latency as gauges of its count and sum (OpenTelemetry
   * histograms are recorded, not observed; a recorded one would need a hook on the hot path).
   */
  registerWith(meter: MeterLike): void {
    const counters = COUNTERS.map(([name, field, description]) => [meter.createObservableCounter(name.replace(/_total$/, ''), { description }), field] as const);
    const storage = meter.createObservableGauge('millrace_storage_bytes', { description: 'Bytes stored for the topic, by tier', unit: 'By' });
    const backlog = meter.createObservableGauge('millrace_subscription_backlog_messages', { description: 'Messages not yet acked on the subscription' });
    const unacked = meter.createObservableGauge('millrace_subscription_unacked_messages', { description: 'Messages delivered and not yet acked' });
    const latencyCount = meter.createObservableCounter('millrace_append_latency_count', { description: 'Producer batch appends measured' });
    const latencySum = meter.createObservableCounter('millrace_append_latency_sum', { description: 'Total producer batch append time', unit: 's' });
    meter.addBatchObservableCallback(async (result) => {
      const snap = await this.collect();
      for (const [topic, t] of Object.entries(snap.topics)) {
        for (const [o, field] of counters) result.observe(o, t[field], { topic });
        result.observe(storage, t.localStorageBytes, { topic, tier: 'local' });
        result.observe(storage, t.offloadedStorageBytes, { topic, tier: 'offloaded' });
        for (const [subscription, m] of Object.entries(t.subscriptions)) {
          result.observe(backlog, m.backlog, { topic, subscription });
          result.observe(unacked, m.unacked, { topic, subscription });
        }
      }
      result.observe(latencyCount, snap.appendLatency.count);
      result.observe(latencySum, snap.appendLatency.sum);
    }, [...counters.map(([o]) => o), storage, backlog, unacked, latencyCount, latencySum]);
  }
}

/** Escapes a Prometheus label value. */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
