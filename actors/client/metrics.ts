/**
 * Broker metrics, for operators: per topic the message and byte counters, storage by tier, and per
 * subscription the backlog, unacked messages and consumers; per thread the append latency histogram.
 * Two ways out: the Prometheus text exposition format (`prometheus()`, for a `/metrics` endpoint),
 * and OpenTelemetry (`Broker.open({ meter })` with a Meter from `@opentelemetry/api`, an optional
 * peer dependency: Millrace only calls the Meter it is given, so it needs no import of its own).
 */
import { appendLatency, type HistogramSnapshot } from '../../core/observability/histogram.js';
import type { PartitionStats } from '../partition/partition-protocol.js';
import { sumPartitionStats, type TopicStats } from './admin.js';

/** What {@link Metrics.collect} returns. */
export interface MetricsSnapshot {
  /** Per loaded topic, its statistics as `admin.stats` gives them (rates excepted). */
  topics: Record<string, TopicStats>;
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
    const byTopic = new Map<string, PartitionStats[]>();
    for (const { topic, stats } of await this.source()) {
      const list = byTopic.get(topic);
      if (list) list.push(stats);
      else byTopic.set(topic, [stats]);
    }
    const topics: Record<string, TopicStats> = {};
    for (const [topic, parts] of byTopic) topics[topic] = sumPartitionStats(parts);
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
      out.push(`millrace_storage_bytes{topic="${esc(topic)}",tier="local"} ${t.localStorageSize}`);
      out.push(`millrace_storage_bytes{topic="${esc(topic)}",tier="offloaded"} ${t.offloadedStorageSize}`);
    }
    out.push('# HELP millrace_producers Producers connected to the topic.', '# TYPE millrace_producers gauge');
    for (const [topic, t] of topics) out.push(`millrace_producers{topic="${esc(topic)}"} ${t.publishers.length}`);
    for (const [name, read, help] of [
      ['millrace_subscription_backlog_messages', (m: Sub) => m.msgBacklog, 'Messages not yet acked on the subscription'],
      ['millrace_subscription_unacked_messages', (m: Sub) => m.unackedMessages, 'Messages delivered to consumers and not yet acked'],
      ['millrace_subscription_consumers', (m: Sub) => m.consumers.length, 'Consumers connected to the subscription'],
    ] as const) {
      out.push(`# HELP ${name} ${help}.`, `# TYPE ${name} gauge`);
      for (const [topic, t] of topics) {
        for (const [sub, m] of Object.entries(t.subscriptions)) out.push(`${name}{topic="${esc(topic)}",subscription="${esc(sub)}"} ${read(m)}`);
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
   * batch per collection, and the append latency as an OpenTelemetry histogram with the same
   * bucket bounds, recorded as each batch append completes (one call per batch, not per message).
   */
  registerWith(meter: MeterLike): void {
    const counters = COUNTERS.map(([name, field, description]) => [meter.createObservableCounter(name.replace(/_total$/, ''), { description }), field] as const);
    const storage = meter.createObservableGauge('millrace_storage_bytes', { description: 'Bytes stored for the topic, by tier', unit: 'By' });
    const backlog = meter.createObservableGauge('millrace_subscription_backlog_messages', { description: 'Messages not yet acked on the subscription' });
    const unacked = meter.createObservableGauge('millrace_subscription_unacked_messages', { description: 'Messages delivered and not yet acked' });
    const latency = meter.createHistogram('millrace_append_latency', {
      description: 'Append round trips of producer batches, until durable', unit: 's',
      advice: { explicitBucketBoundaries: [...appendLatency.bounds] },
    });
    appendLatency.forward = (seconds) => latency.record(seconds);
    meter.addBatchObservableCallback(async (result) => {
      const snap = await this.collect();
      for (const [topic, t] of Object.entries(snap.topics)) {
        for (const [o, field] of counters) result.observe(o, t[field], { topic });
        result.observe(storage, t.localStorageSize, { topic, tier: 'local' });
        result.observe(storage, t.offloadedStorageSize, { topic, tier: 'offloaded' });
        for (const [subscription, m] of Object.entries(t.subscriptions)) {
          result.observe(backlog, m.msgBacklog, { topic, subscription });
          result.observe(unacked, m.unackedMessages, { topic, subscription });
        }
      }
    }, [...counters.map(([o]) => o), storage, backlog, unacked]);
  }
}

/** Stops forwarding append latencies to an OpenTelemetry histogram (the broker closed). */
export function unregisterMeter(): void {
  appendLatency.forward = undefined;
}

type Sub = TopicStats['subscriptions'][string];

/** Escapes a Prometheus label value. */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
