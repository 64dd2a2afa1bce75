/** Public interface of export/: ships the store's events and alerts to NATS JetStream (README "Fleet export"). */
export { NatsExporter, subjectMatches, type ExportStats, type ExporterOptions } from './nats.js';
export { parseExportSection, parseNatsSection, hostTokenOf, type NatsExportConfig, type NatsAuth, type NatsTls } from './config.js';
export { eventSubject, alertSubject, parseRecord, parseMsgId, type FleetRecord } from './records.js';
