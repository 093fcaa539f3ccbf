/**
 * millrace/testkit: check a recorded history of sends, receives and acks for lost, duplicated,
 * reordered or phantom messages (after Jepsen's queue checker), and record one from real producers
 * and consumers while your own code runs, so you can property-test your pipeline.
 */
export {
  checkHistory, type HistoryEvent, type SendEvent, type SubscribeEvent, type ReceiveEvent, type AckEvent, type SeekEvent,
  type DeadLetterEvent, type SendOutcome, type SubscriptionKind, type Anomaly, type AnomalyKind, type HistoryReport, type CheckOptions,
} from './history.js';
export { HistoryRecorder, RecordedProducer, RecordedConsumer, RecordedReader, fileSink, readHistoryFile, type RecorderOptions } from './recorder.js';
