/**
 * The SQLite extensions of db/native/ (C, built by scripts/build.sh against the SQLite that
 * better-sqlite3 links), loaded into a connection on first use. Each has a slower
 * JavaScript path with the same answers, taken where the extension is not built or does
 * not load (another platform, a build without a C compiler).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './connection.js';

export type NativeExtension = 'packed_completions' | 'packed_columns' | 'packed_frames';

const loaded = new WeakMap<Db, Map<NativeExtension, boolean>>();

/** Where scripts/build.sh puts an extension, seen from this file in the source tree and from dist/. */
function candidates(name: NativeExtension): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = `${name}.so`;
  return [join(here, 'native', 'build', file), resolve(here, '..', '..', 'db', 'native', 'build', file)];
}

/** Loads the extension into this connection once; false when it is not built or does not load. */
export function loadNativeExtension(db: Db, name: NativeExtension): boolean {
  let perConnection = loaded.get(db);
  if (!perConnection) loaded.set(db, (perConnection = new Map()));
  let ok = perConnection.get(name);
  if (ok === undefined) {
    const path = candidates(name).find((p) => existsSync(p));
    ok = false;
    if (path !== undefined) {
      try {
        db.loadExtension(path);
        ok = true;
      } catch {
        ok = false;
      }
    }
    perConnection.set(name, ok);
  }
  return ok;
}
