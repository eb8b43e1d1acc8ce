/**
 * The page's HTTP calls: the public API where it fits, the page's compact /ui/data routes
 * for charts. Every call goes through `request` (uploads through `upload`, the same rules
 * over XMLHttpRequest for its progress events): it adds `Authorization: Bearer <token>`
 * when the tab holds a token, and on a 401 asks for the token once (a small form), keeps
 * it for the tab (sessionStorage) and retries. Without a token configured on the server
 * nothing asks and nothing is added.
 */
import type { SessionT } from '../../schemas/session.js';
import type { SummaryT } from '../../schemas/correlation.js';
import type { FlowT } from '../../schemas/frames.js';
import type { LiveData, SequenceData, SessionListItem, TimelineData, WriteDetail } from './shapes.js';
import { askForToken } from './token-form.js';

export type { SessionT, SummaryT, FlowT };

/** Where the tab keeps the service's bearer token (the ops issue's ACKSCOPE_TOKEN). */
export const TOKEN_KEY = 'ackscope-token';

/** An error reply of the API ({error: {code, message}}), kept whole for display. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface NetworkInterface {
  name: string;
  description?: string;
  addresses: string[];
  loopback: boolean;
  up: boolean;
}

export interface SessionCreate {
  name: string;
  kind: 'live' | 'import';
  interface?: string;
  filter?: string;
  snaplen?: number;
  bufferSize?: number;
}

export interface ImportResult {
  session: SessionT;
  import: { format: string; bytes: number; frames: number; tcp: number; flows: number; duplicateCopies: number };
}

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: behave as without a token
  }
}

function authHeaders(): Record<string, string> {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Asks for the token after a 401; several calls refused at once share one form. Resolves
 * true when a token was given (stored for the tab), false when the user cancelled.
 */
let asking: Promise<boolean> | null = null;
function tokenAfter401(message: string): Promise<boolean> {
  asking ??= askForToken(message).then((token) => {
    asking = null;
    if (token === null) return false;
    sessionStorage.setItem(TOKEN_KEY, token);
    return true;
  });
  return asking;
}

function errorOf(status: number, text: string, what: string): ApiError {
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, or a cut connection
  }
  const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
  return new ApiError(status, e?.code ?? 'ACKSCOPE_ERR_INTERNAL', e?.message ?? `${what}: HTTP ${status}`);
}

/**
 * The one way the page calls the service (uploads aside, see `upload`): the token added,
 * a 401 asked about once and retried. Returns the reply of the last attempt.
 */
async function send(method: string, path: string, body?: unknown): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status !== 401 || attempt > 0) return res;
    const text = await res.text();
    if (!(await tokenAfter401(errorOf(401, text, path).message))) throw errorOf(401, text, `${method} ${path}`);
  }
}

/** JSON in and out through `send`; an error reply becomes an ApiError. */
export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  const text = await res.text();
  if (!res.ok) throw errorOf(res.status, text, `${method} ${path}`);
  if (res.status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'ACKSCOPE_ERR_INTERNAL', `${path}: not JSON (${res.status})`);
  }
}

/**
 * Saves an export under `name`. A plain link cannot carry the bearer token, so with a
 * token the file is fetched through `send` and handed to the browser as a blob.
 */
export async function download(path: string, name: string): Promise<void> {
  const res = await send('GET', path);
  if (!res.ok) throw errorOf(res.status, await res.text(), `GET ${path}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Whether the tab holds a token (links then go through `download`). */
export const hasToken = () => storedToken() !== null;

const get = <T>(path: string) => request<T>('GET', path);

/**
 * POSTs a file as the raw body over XMLHttpRequest (fetch has no upload progress),
 * reporting bytes sent; the same token and 401 rule as `request`.
 */
export async function upload<T>(path: string, file: Blob, onProgress: (loaded: number, total: number) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('accept', 'application/json');
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
      xhr.addEventListener('load', () => resolve({ status: xhr.status, text: xhr.responseText }));
      xhr.addEventListener('error', () => reject(new ApiError(0, 'ACKSCOPE_ERR_INTERNAL', 'the upload failed: the connection closed before the reply (is the service running?)')));
      xhr.addEventListener('abort', () => reject(new ApiError(0, 'ACKSCOPE_ERR_INTERNAL', 'the upload was cancelled')));
      xhr.send(file);
    });
    if (status === 401 && attempt === 0 && (await tokenAfter401(errorOf(401, text, path).message))) continue;
    if (status < 200 || status >= 300) throw errorOf(status, text, `POST ${path}`);
    return JSON.parse(text) as T;
  }
}

export const api = {
  sessions: () => get<{ items: SessionListItem[] }>('/ui/data/sessions'),
  session: (id: number) => get<SessionT>(`/sessions/${id}`),
  live: (id: number) => get<LiveData>(`/ui/data/sessions/${id}/live`),
  summary: (id: number) => get<SummaryT>(`/sessions/${id}/summary`),
  flows: (id: number) => get<{ items: FlowT[]; nextCursor: string | null }>(`/sessions/${id}/flows?limit=10000`),
  /** flowId null: the completions no captured flow matched. */
  timeline: (id: number, flowId: number | null) =>
    get<TimelineData>(`/ui/data/sessions/${id}/timeline?flow=${flowId ?? 0}`),
  sequence: (id: number, flowId: number, max?: number) =>
    get<SequenceData>(`/ui/data/sessions/${id}/sequence?flow=${flowId}${max ? `&max=${max}` : ''}`),
  write: (id: number, completionId: number) => get<WriteDetail>(`/ui/data/sessions/${id}/writes/${completionId}`),
  interfaces: () => get<{ items: NetworkInterface[] }>('/interfaces'),
  create: (body: SessionCreate) => request<SessionT>('POST', '/sessions', body),
  start: (id: number) => request<SessionT>('POST', `/sessions/${id}/start`),
  stop: (id: number) => request<SessionT>('POST', `/sessions/${id}/stop`),
  /** The kernel tracer on a running process, into this live session (root on the service's host). */
  trace: (id: number, pid: number) => request<{ tracing: boolean }>('POST', `/sessions/${id}/trace`, { pid, followChildren: true }),
  remove: (id: number) => request<void>('DELETE', `/sessions/${id}`),
  importFile: (id: number, file: File, onProgress: (loaded: number, total: number) => void) =>
    upload<ImportResult>(`/sessions/${id}/import?filename=${encodeURIComponent(file.name)}`, file, onProgress),
};

/** Every export of a session, with what opens it. */
export function exportLinks(id: number): { href: string; label: string; note: string }[] {
  const base = `/sessions/${id}/export`;
  return [
    { href: `${base}/capture.pcapng`, label: 'capture.pcapng', note: 'the captured packets: open in Wireshark' },
    { href: `${base}/timeline.json`, label: 'timeline.json', note: 'every correlation in submission order' },
    { href: `${base}/timeline.csv`, label: 'timeline.csv', note: 'the same as CSV, epoch ns as integers' },
    { href: `${base}/trace.json`, label: 'trace.json', note: 'open in ui.perfetto.dev (Open trace file) or chrome://tracing' },
  ];
}
