import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../../service/app.js';

/** A temporary folder removed by the returned cleanup. */
export function tempDir(prefix = 'ackscope-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The real app on a real SQLite file in a temporary folder. */
export async function testApp(dir?: string): Promise<{ app: App; dir: string; dbPath: string; close: () => Promise<void> }> {
  const t = dir ? { dir, cleanup: () => {} } : tempDir();
  const dbPath = join(t.dir, 'ackscope.db');
  const app = await buildApp({ dbPath, logger: false });
  return {
    app,
    dir: t.dir,
    dbPath,
    close: async () => {
      await app.close();
      t.cleanup();
    },
  };
}
