/**
 * Windows pktmon logs one packet once per component it passes, the copies sharing an
 * epb_packetid. Keep one frame per packet — the copy nearest the wire: the last copy of
 * an outbound packet (logged on its way down to the NIC), the first copy of an inbound
 * one (or of one without direction) — and count the others.
 *
 * Copies of one packet are logged close together, so a group stays open for `window`
 * records; a copy that comes later than that is taken as a new packet. Records without
 * a packet id pass straight through (in file order with the held ones).
 */
import { CaptureRecord, DIRECTION_OUTBOUND, type RecordSink } from './frame.js';

interface HeldRecord {
  record: CaptureRecord;
  alive: boolean;
}

export class PacketCopyFilter {
  /** Copies dropped because another copy of the same packet was kept. */
  duplicates = 0;
  private readonly queue: HeldRecord[] = [];
  private head = 0;
  private readonly groups = new Map<bigint, HeldRecord>();
  private readonly sink: RecordSink;
  private readonly onDuplicate: () => void;
  private readonly window: number;

  constructor(sink: RecordSink, onDuplicate: () => void = () => {}, window = 256) {
    this.sink = sink;
    this.onDuplicate = onDuplicate;
    this.window = window;
  }

  push(rec: CaptureRecord): void {
    if (rec.packetId < 0n && this.head === this.queue.length) {
      this.sink(rec); // nothing held: no copy to keep order with
      return;
    }
    if (rec.packetId >= 0n) {
      const held = this.groups.get(rec.packetId);
      if (held && held.alive) {
        this.duplicates++;
        this.onDuplicate();
        if (rec.direction !== DIRECTION_OUTBOUND) return; // the first copy is nearest the wire
        held.alive = false; // outbound: this later copy is nearer the wire
      }
    }
    const entry: HeldRecord = { record: copyRecord(rec), alive: true };
    this.queue.push(entry);
    if (rec.packetId >= 0n) this.groups.set(rec.packetId, entry);
    this.drain(this.window);
  }

  /** Emits everything still held (end of file). */
  end(): void {
    this.drain(0);
  }

  private drain(keep: number): void {
    while (this.queue.length - this.head > keep) {
      const entry = this.queue[this.head++];
      const id = entry.record.packetId;
      if (id >= 0n && this.groups.get(id) === entry) this.groups.delete(id);
      if (entry.alive) this.sink(entry.record);
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

function copyRecord(rec: CaptureRecord): CaptureRecord {
  const out = new CaptureRecord();
  out.linkType = rec.linkType;
  out.tsNs = rec.tsNs;
  out.caplen = rec.caplen;
  out.wirelen = rec.wirelen;
  out.bytes = rec.bytes.slice(rec.at, rec.at + rec.caplen);
  out.view = new DataView(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength);
  out.at = 0;
  out.fileOffset = rec.fileOffset;
  out.interfaceId = rec.interfaceId;
  out.direction = rec.direction;
  out.packetId = rec.packetId;
  return out;
}
