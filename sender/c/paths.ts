import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the C senders live. This module sits at sender/c/ in the source tree and at
 * dist/sender/c/ once compiled, so the project root is two or three levels up.
 */
export function projectRootFromSenderC(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(extname(self) === '.ts' ? '../..' : '../../..', import.meta.url));
}

export type CSenderKind = 'posix' | 'winsock';

export const C_SENDER_DIR = join(projectRootFromSenderC(), 'sender', 'c');

export function cSenderBinary(kind: CSenderKind): string {
  return join(C_SENDER_DIR, 'build', kind === 'posix' ? 'ackscope-send-posix' : 'ackscope-send-winsock.exe');
}

/** Wine's prefix for the Winsock sender: ACKSCOPE_WINEPREFIX, else .cache/wine in the project. */
export function defaultWinePrefix(env: NodeJS.ProcessEnv = process.env): string {
  return env.ACKSCOPE_WINEPREFIX || join(projectRootFromSenderC(), '.cache', 'wine');
}

/** First of `candidates` that exists, else null. */
export function firstExisting(candidates: readonly string[]): string | null {
  for (const c of candidates) if (existsSync(c)) return c;
  return null;
}
