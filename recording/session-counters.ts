import type { SessionCounters } from '../capture/frame-packer.js';
import type { SessionRow } from '../core/session-row.js';

/**
 * The sessions row's columns for what a frame writer counted, as db/frame-rows.ts writes
 * them on SQLite: the ClickHouse import and live capture write them through the store.
 */
export function counterColumns(c: SessionCounters): Partial<SessionRow> {
  return {
    link_type: c.linkType,
    frames_total: c.frames,
    frames_tcp: c.tcp,
    skipped_truncated: c.skipped.truncated,
    skipped_malformed: c.skipped.malformed,
    skipped_not_ip: c.skipped.notIp,
    skipped_not_tcp: c.skipped.notTcp,
    skipped_other: c.skipped.other,
    skip_reasons: JSON.stringify(c.reasons),
  };
}
