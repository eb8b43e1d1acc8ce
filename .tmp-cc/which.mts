import { readdirSync, readFileSync } from 'node:fs';
import { AutoCaptureReader } from '../capture/pcap/reader.js';
const dir = 'test/fixtures/tcpdump-tests/';
for (const f of readdirSync(dir)) {
  if (f === 'LICENSE') continue;
  const r = new AutoCaptureReader();
  try { r.push(readFileSync(dir + f), () => {}); r.end(() => {}); } catch (e) { console.log(f, (e as Error).message); }
}
