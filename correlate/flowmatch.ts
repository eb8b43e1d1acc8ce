import { canonicalAddress } from '../core/completion.js';
/**
 * Which captured flow a completion belongs to. Pure: the caller loads the session's
 * flows once and asks per completion.
 */
export interface FlowCandidate {
  id: number;
  aAddr: string;
  aPort: number;
  bAddr: string;
  bPort: number;
  firstNs: number;
  lastNs: number;
}

export interface Endpoints {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

/** Addresses are canonical once they are stored (capture and ingest both write core's form); anything else is kept as given. */
export const endpointKey = (addr: string, port: number) => `${canonicalAddress(addr) ?? addr}|${port}`;

/** Both orientations of a 4-tuple give the same key. */
export function flowKey(x: string, xPort: number, y: string, yPort: number): string {
  const p = endpointKey(x, xPort);
  const q = endpointKey(y, yPort);
  return p < q ? `${p}|${q}` : `${q}|${p}`;
}

export interface FlowMatch {
  flow: FlowCandidate;
  /** Direction of the completion's bytes in the flow: 0 a→b, 1 b→a. */
  dataDir: 0 | 1;
}

export class FlowIndex {
  private readonly byKey = new Map<string, FlowCandidate[]>();
  /** Completions arrive many per 4-tuple: canonicalise each spelling once. */
  private readonly keyMemo = new Map<string, string>();
  /** The last 4-tuple asked for, its candidates, and its match when it has one flow only (shared: callers only read it). */
  private last: (Endpoints & { list: FlowCandidate[] | undefined; only: FlowMatch | null }) | null = null;

  constructor(flows: Iterable<FlowCandidate>) {
    for (const f of flows) {
      const key = flowKey(f.aAddr, f.aPort, f.bAddr, f.bPort);
      const list = this.byKey.get(key);
      if (list) list.push(f);
      else this.byKey.set(key, [f]);
    }
    for (const list of this.byKey.values()) list.sort((p, q) => p.firstNs - q.firstNs);
  }

  private endpoint(addr: string, port: number): string {
    const spelled = `${addr}|${port}`;
    let key = this.keyMemo.get(spelled);
    if (key === undefined) this.keyMemo.set(spelled, (key = endpointKey(addr, port)));
    return key;
  }

  /**
   * The flow with the completion's 4-tuple in either orientation. Ports are reused, so
   * among several connections take the one whose time span contains the submission;
   * else the latest that began before the completion; else the earliest.
   */
  match(e: Endpoints, submittedNs: number, completedNs: number): FlowMatch | null {
    // Completions come grouped by 4-tuple: the one before usually had the same (building
    // and hashing its key string per completion took ~1 µs of ~10).
    const last = this.last;
    let list: FlowCandidate[] | undefined;
    if (last !== null && e.srcPort === last.srcPort && e.dstPort === last.dstPort && e.srcAddr === last.srcAddr && e.dstAddr === last.dstAddr) {
      if (last.only !== null) return last.only;
      list = last.list;
    } else {
      const spelled = `${e.srcAddr}|${e.srcPort}|${e.dstAddr}|${e.dstPort}`;
      let key = this.keyMemo.get(spelled);
      if (key === undefined) this.keyMemo.set(spelled, (key = flowKey(e.srcAddr, e.srcPort, e.dstAddr, e.dstPort)));
      list = this.byKey.get(key);
      const only = list?.length === 1 ? this.oriented(e, list[0]) : null;
      this.last = { srcAddr: e.srcAddr, srcPort: e.srcPort, dstAddr: e.dstAddr, dstPort: e.dstPort, list, only };
      if (only !== null) return only;
    }
    if (!list) return null;
    let flow = list.find((f) => f.firstNs <= submittedNs && submittedNs <= f.lastNs);
    if (!flow) {
      for (const f of list) if (f.firstNs <= completedNs) flow = f;
    }
    flow ??= list[0];
    return this.oriented(e, flow);
  }

  private oriented(e: Endpoints, flow: FlowCandidate): FlowMatch {
    const srcIsA = this.endpoint(e.srcAddr, e.srcPort) === this.endpoint(flow.aAddr, flow.aPort);
    return { flow, dataDir: srcIsA ? 0 : 1 };
  }
}
