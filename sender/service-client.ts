import { AckscopeError } from '../core/errors.js';
import { DEFAULT_SERVICE_URL, authHeaders, errorFromReply, serviceUrl } from '../core/api-reply.js';
import type { CompletionRecord } from '../core/completion.js';

export { DEFAULT_SERVICE_URL, serviceUrl };

export interface IngestResult {
  received: number;
  stored: number;
  duplicates: number;
}

/**
 * The few calls the sender side makes to the ackscope service. Errors the service
 * returns keep their code; an unreachable service is ACKSCOPE_ERR_SERVICE_UNREACHABLE.
 */
export class ServiceClient {
  private readonly auth: Record<string, string>;

  /** `env` supplies ACKSCOPE_TOKEN (sent as `Authorization: Bearer`) when the service has one. */
  constructor(
    readonly baseUrl: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.auth = authHeaders(env);
  }

  async createSession(name: string): Promise<{ id: number }> {
    return (await this.call('POST', '/sessions', JSON.stringify({ name, kind: 'import' }), 'application/json')) as {
      id: number;
    };
  }

  async getSession(id: number): Promise<{ id: number; name: string; state: string }> {
    return (await this.call('GET', `/sessions/${id}`)) as { id: number; name: string; state: string };
  }

  /** Any JSON route: `value` sent as the body (when given), the reply parsed. */
  async json<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, value?: unknown): Promise<T> {
    return (await this.call(method, path, value === undefined ? undefined : JSON.stringify(value), value === undefined ? undefined : 'application/json')) as T;
  }

  /** Posts records as NDJSON (the fast path of the ingest route). */
  async postCompletions(sessionId: number, records: readonly CompletionRecord[]): Promise<IngestResult> {
    let body = '';
    for (const r of records) body += JSON.stringify(r) + '\n';
    return (await this.call('POST', `/sessions/${sessionId}/completions`, body, 'application/x-ndjson')) as IngestResult;
  }

  private async call(method: string, path: string, body?: string, contentType?: string): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { method, body, headers: { ...this.auth, ...(contentType ? { 'content-type': contentType } : {}) } });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AckscopeError(
        'ACKSCOPE_ERR_SERVICE_UNREACHABLE',
        `cannot reach the ackscope service at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (err as Error).message}): ` +
          'start it with `ackscope serve` or set ACKSCOPE_URL / --url',
        { url },
      );
    }
    const text = await res.text();
    if (!res.ok) throw errorFromReply(res.status, text, `${method} ${path}`);
    try {
      return text.length ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }
}
