/**
 * The session rows a CaptureManager reads and writes (manager.ts LiveSessions), for each
 * kind of store: SQLite's file, held by this host alone; or a store shared by hosts
 * (ClickHouse), where a session left `capturing` is this host's only when this host's
 * folder of it holds the capture owner file.
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

/** What a shared store offers (the service's Store has these). */
export interface SessionRows {
  getSession(id: number): Promise<SessionRow | undefined>;
  updateSession(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
}

/**
 * `sessionsDir` holds one folder per session, named by its id (the service's
 * <dataDir>/sessions). The store is asked only about sessions with an owner file here,
 * so a service whose store is down starts without waiting for it unless a capture of
 * its own was cut short.
 */
export function sharedStoreLiveSessions(store: SessionRows, sessionsDir: string): LiveSessions {
  return {
    get: (id) => store.getSession(id),
    update: (id, fields) => store.updateSession(id, fields),
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
        if (row?.state === 'capturing' && row.kind === 'live') capturing.push(id);
      }
      return capturing;
    },
  };
}
