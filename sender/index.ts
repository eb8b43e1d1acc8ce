/**
 * ackscope's Node sender side: instrument an existing socket, run a workload, receive
 * it. Adoption in an application is two lines (docs/completions.md):
 *
 *   import { instrument } from './sender/index.js';
 *   instrument(socket, { destination: { session: 12 } }); // records → ACKSCOPE_URL, flushed on close
 */
export {
  instrument,
  errorName,
  tcpInfoPolicy,
  TCP_INFO_POLICIES,
  DEFAULT_TCP_INFO_POLICY,
  type Instrumented,
  type InstrumentOptions,
  type InstrumentStats,
  type TcpInfoPolicy,
} from './instrument.js';
export { runWorkload, formatSummary, splitSizes, type WorkloadOptions, type WorkloadResult, type WorkloadSummary, type WorkloadMode } from './workload.js';
export { startReceiver, type Receiver, type ReceiverOptions, type ReceiverStats } from './receiver.js';
export { MemoryDestination, ServiceDestination, destinationFor, type DestinationSpec } from './destinations.js';
export { ServiceClient, serviceUrl, DEFAULT_SERVICE_URL } from './service-client.js';
export type { CompletionRecord, FlowAddress, CompletionDestination } from '../core/completion.js';
