import type { CompletionInput } from '../service/schemas/completion.js';

/**
 * One completion record in its JSON form (contract 3, docs/completions.md): what the
 * instrumentation produces and what POST /sessions/:id/completions takes. Nanosecond
 * times are decimal strings, exact beyond 2^53.
 */
export interface CompletionRecord extends CompletionInput {
  submittedNs: string;
  completedNs: string;
}

export type FlowAddress = CompletionInput['flow'];

/** Where completion records go: the service, a local database, or memory. */
export interface Reporter {
  /** Takes one record; may buffer it. Never throws: failures surface from flush(). */
  add(record: CompletionRecord): void;
  /** Delivers everything buffered; rejects with the first delivery error. */
  flush(): Promise<void>;
}
