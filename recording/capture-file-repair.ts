import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { walkCompleteBlocks } from '../capture/pcap/pcapng-blocks.js';

const CHUNK_BYTES = 4 << 20;

export interface TrimResult {
  /** Bytes of whole blocks kept. */
  keptBytes: number;
  /** Bytes cut from the end (a torn last block, or whatever followed a malformed one). */
  cutBytes: number;
}

/**
 * Cuts a session's raw pcapng back to its last whole block, so that tshark and Wireshark
 * open a capture whose writer was killed mid-write. Reads the file a chunk at a time (a
 * capture can be many GB); a missing file is left missing.
 */
export function trimTornPcapng(path: string): TrimResult | null {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    let kept = 0;
    let littleEndian: boolean | null = null;
    let want = CHUNK_BYTES;
    while (kept < size) {
      const buf = Buffer.alloc(Math.min(want, size - kept));
      const read = readSync(fd, buf, 0, buf.length, kept);
      const walk = walkCompleteBlocks(buf.subarray(0, read), littleEndian);
      kept += walk.complete;
      littleEndian = walk.littleEndian;
      if (walk.malformed !== null) break;
      if (walk.complete === 0) {
        // one block larger than the chunk: read it whole if the file holds it
        if (walk.need !== null && walk.need > buf.length && kept + walk.need <= size) {
          want = walk.need;
          continue;
        }
        break;
      }
      want = CHUNK_BYTES;
    }
    if (kept < size) ftruncateSync(fd, kept);
    return { keptBytes: kept, cutBytes: size - kept };
  } finally {
    closeSync(fd);
  }
}
