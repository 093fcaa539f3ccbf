/**
 * The run's topics and their storage settings. Every run makes fresh topics named after the run, so
 * a data directory that holds earlier runs works as it is, and every epoch's replay reads only this
 * run's features.
 *
 * Sizes scale with the number of events so ledgers stay small at any size (about a dozen per
 * partition of the features topic) and offloading starts while the features are still being written:
 * a partition offloads its oldest sealed ledgers once its local bytes pass a third of what it will
 * hold, so the replays of later epochs begin in the object store.
 */
import type { Broker, BrokerOptions, TopicPolicies } from '../index.js';

export const PARTITIONS = 4;

/** The topics of one run. */
export interface PipelineTopics {
  events: string;
  features: string;
  feedback: string;
}

/** Rough bytes one feature message takes in a ledger (value, key, framing); only sizes ledgers. */
const FEATURE_MESSAGE_BYTES = 110;

/** Ledger rollover for a run of `events` events (broker-wide: the broker opens with it). */
export function ledgerOptions(events: number): NonNullable<BrokerOptions['ledger']> {
  const perPartition = (events * FEATURE_MESSAGE_BYTES) / PARTITIONS;
  return { maxEntries: 1000, maxBytes: Math.max(4 * 1024, Math.round(perPartition / 12)), maxAgeMs: 3600_000 };
}

/** The run's topic policies: keep everything (epochs replay from the earliest), offload early. */
export function topicPolicies(events: number): TopicPolicies {
  const perPartition = (events * FEATURE_MESSAGE_BYTES) / PARTITIONS;
  return {
    // Pulsar's default retention deletes what every subscription acked; the epochs' Readers are
    // not subscriptions, so without this the features could go before the last epoch reads them.
    retention: { timeMs: -1, sizeBytes: -1 },
    offloadThresholdBytes: Math.max(8 * 1024, Math.round(perPartition / 3)),
    offloadDeletionLagMs: 0,
  };
}

/** A run ID: sortable by start time, unique enough for runs of one data directory. */
export function newRunId(now = Date.now()): string {
  return `run-${now.toString(36)}-${process.pid.toString(36)}`;
}

export function topicsOf(runId: string): PipelineTopics {
  const base = `persistent://public/pipeline/${runId}`;
  return { events: `${base}-events`, features: `${base}-features`, feedback: `${base}-feedback` };
}

/** Creates the run's topics (events and features partitioned alike, so a user's key maps to the same partition in both) with their policies. */
export async function createTopics(broker: Broker, runId: string, events: number): Promise<PipelineTopics> {
  const t = topicsOf(runId);
  await broker.admin.createTopic(t.events, { partitions: PARTITIONS });
  await broker.admin.createTopic(t.features, { partitions: PARTITIONS });
  await broker.admin.createTopic(t.feedback, { partitions: 0 });
  const policies = topicPolicies(events);
  for (const topic of [t.events, t.features, t.feedback]) await broker.admin.setPolicies(topic, policies);
  return t;
}
