/**
 * The session rows a CaptureManager reads and writes (manager.ts LiveSessions), for each
 * kind of store: SQLite's file, held by this host alone; or a store shared by hosts
 * (ClickHouse), where a session left `capturing` is this host's only when this host's
 * folder of it holds the capture owner file and this host's capture of it is the one left
 * capturing (several hosts may capture one session).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../db/connection.js';
import { getSession, updateSession } from '../../db/sessions.js';
import type { SessionRow } from '../../core/session-row.js';
import type { LiveSessions } from './manager.js';

/** Written in a session's folder while a process captures into it: that process's pid. */
export const OWNER_FILE_NAME = 'capture.pid';

export function sqliteLiveSessions(db: Db): LiveSessions {
  return {
    get: async (id) => getSession(db, id),
    update: async (id, fields) => updateSession(db, id, fields),
    capturingLive: async () =>
      (db.prepare(`SELECT id FROM sessions WHERE state = 'capturing' AND kind = 'live'`).all() as { id: number }[]).map((r) => r.id),
  };
}

/** What a shared store offers for live capture (the ClickHouse store has these). */
export interface SharedLiveStore {
  /** This service's host (ACKSCOPE_STORE_HOST). */
  readonly host: string;
  getSession(id: number): Promise<SessionRow | undefined>;
  /** Writes this host's capture of the session (its state, counters, interface and filter); other columns go to the session's row. */
  updateLiveCapture(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
  /** The state of this host's capture of the session; null when it never captured it. */
  liveCaptureState(id: number): Promise<string | null>;
  /** Why this host may not capture a session other hosts made leave `created` (null: it may join them). */
  liveJoinRefusal(row: SessionRow): Promise<string | null>;
  /** Deletes the rows of a deleted session (what a capture wrote after the delete), waited for. */
  purgeDeletedSession(id: number): Promise<void>;
}

/**
 * `sessionsDir` holds one folder per session, named by its id (the service's
 * <dataDir>/sessions). The store is asked only about sessions with an owner file here,
 * so a service whose store is down starts without waiting for it unless a capture of
 * its own was cut short; of those, only the sessions this host's own capture row still
 * shows capturing are this host's to fail (another host may capture the session still).
 */
export function sharedStoreLiveSessions(store: SharedLiveStore, sessionsDir: string): LiveSessions {
  return {
    get: (id) => store.getSession(id),
    update: (id, fields) => store.updateLiveCapture(id, fields),
    shared: { host: store.host, joinRefusal: (row) => store.liveJoinRefusal(row), purgeDeleted: (id) => store.purgeDeletedSession(id) },
    capturingLive: async () => {
      let names: string[];
      try {
        names = readdirSync(sessionsDir);
      } catch {
        return []; // no session folder yet
      }
      const owned = names.filter((n) => /^[1-9][0-9]*$/.test(n) && existsSync(join(sessionsDir, n, OWNER_FILE_NAME))).map(Number);
      const capturing: number[] = [];
      for (const id of owned) {
        const row = await store.getSession(id);
        if (row?.kind !== 'live') continue;
        const mine = await store.liveCaptureState(id);
        // a capture row of this host's (its capture), or, without one, the session row (a capture before they existed)
        if (mine === 'capturing' || (mine === null && row.state === 'capturing')) capturing.push(id);
      }
      return capturing;
    },
  };
}
