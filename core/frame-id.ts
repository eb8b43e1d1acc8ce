/**
 * A frame's row id says which session it belongs to: id = sessionId · 2^32 + frameNo,
 * frameNo counting from 1 in capture order. So a session's frames are one rowid range
 * (no index on session_id needed) and deleting a session is a range delete
 * (migrations/002_capture.sql, which writes the same rule in SQL).
 */
export const FRAMES_PER_SESSION = 0x1_0000_0000;

/** The id of frame `frameNo` of a session, as a number when exact, else as a BigInt. */
export function frameId(sessionId: number, frameNo: number): number | bigint {
  const id = sessionId * FRAMES_PER_SESSION + frameNo;
  return Number.isSafeInteger(id) ? id : BigInt(sessionId) * BigInt(FRAMES_PER_SESSION) + BigInt(frameNo);
}

/** First and last id a session's frames can have (inclusive); frame 0 is never used. */
export function frameIdRange(sessionId: number): { first: bigint; last: bigint } {
  const base = BigInt(sessionId) * BigInt(FRAMES_PER_SESSION);
  return { first: base + 1n, last: base + BigInt(FRAMES_PER_SESSION) - 1n };
}

/** The same range as an SQL condition on `id`, for a statement with a `@session` parameter. */
export const SESSION_FRAME_IDS_SQL = `id BETWEEN @session * ${FRAMES_PER_SESSION} AND @session * ${FRAMES_PER_SESSION} + ${FRAMES_PER_SESSION - 1}`;
