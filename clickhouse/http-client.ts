/**
 * ClickHouse over its HTTP interface with Node's own http/https (no client package:
 * the official one has no RowBinary encoder, and 18.16 refuses its query parameters;
 * /work/shared/CLICKHOUSE.md). Every request has a connect timeout and an idle timeout,
 * so an unreachable or silent server ends in ACKSCOPE_ERR_STORE_UNREACHABLE, never a
 * hang; a refusal (user, password, address, database) is ACKSCOPE_ERR_STORE_REFUSED; any
 * other failed statement ACKSCOPE_ERR_STORE_QUERY with ClickHouse's code and text.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { AckscopeError } from '../core/errors.js';
import { hostLabel, type ClickHouseHost, type ClickHouseStoreConfig } from './store-url.js';
import { Sql, sql } from './sql.js';

/** ClickHouse's codes for "who you are or where you connect is refused" (ErrorCodes.cpp). */
const REFUSAL_CODES = new Set([
  81, // UNKNOWN_DATABASE
  164, // READONLY
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  195, // IP_ADDRESS_NOT_ALLOWED
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED (newer servers)
]);

/** A server error's text: "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = ..." */
export function parseServerError(body: string): { code: number | null; message: string } {
  const code = /Code: (\d+)/.exec(body);
  const text = /DB::Exception: (.*?)(?:, e\.what\(\) = |$)/s.exec(body);
  return { code: code ? Number(code[1]) : null, message: (text ? text[1] : body).trim().slice(0, 2000) };
}

export interface QueryOptions {
  /** Which listed host (index into config.hosts); default: the first that answers. */
  host?: number;
  /** Send without the database setting (creating the database itself). */
  withoutDatabase?: boolean;
  /** Extra ClickHouse settings as URL parameters (names from code, values checked here). */
  settings?: Record<string, string | number>;
}

const SETTING_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const SETTING_VALUE = /^[A-Za-z0-9_.]{1,64}$/;

export class ClickHouseClient {
  readonly config: ClickHouseStoreConfig;
  /** Keep-alive connections for statements; inserts (streamed bodies) open their own. */
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #freshAgent: HttpAgent | HttpsAgent;

  constructor(config: ClickHouseStoreConfig) {
    this.config = config;
    this.#agent = config.secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.#freshAgent = config.secure ? new HttpsAgent({ keepAlive: false }) : new HttpAgent({ keepAlive: false });
  }

  get hostCount(): number {
    return this.config.hosts.length;
  }

  /** Closes idle keep-alive sockets (the process can exit). */
  close(): void {
    this.#agent.destroy();
    this.#freshAgent.destroy();
  }

  #path(options: QueryOptions, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams(extra);
    if (!options.withoutDatabase) params.set('database', this.config.database);
    for (const [name, value] of Object.entries(options.settings ?? {})) {
      if (!SETTING_NAME.test(name)) throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', `setting name ${JSON.stringify(name)} is not a plain word`);
      if (!SETTING_VALUE.test(String(value))) {
        throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', `setting ${name} has a value that is not a plain word or number`);
      }
      params.set(name, String(value));
    }
    return `/?${params.toString()}`;
  }

  /**
   * One HTTP request to one host. The body is a string or a stream of chunks (an
   * insert). Resolves with the response once its status is known.
   */
  #send(
    host: ClickHouseHost,
    method: 'GET' | 'POST',
    path: string,
    body: string | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null,
    contentType = 'application/octet-stream',
  ): Promise<{ status: number; text: () => Promise<string>; response: IncomingMessage }> {
    const { user, password, connectTimeoutMs, timeoutMs, secure } = this.config;
    const label = hostLabel(host);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const unreachable = (why: string) =>
        new AckscopeError('ACKSCOPE_ERR_STORE_UNREACHABLE', `ClickHouse at ${label} is unreachable: ${why}`, { host: label });
      const req = (secure ? httpsRequest : httpRequest)({
        host: host.host,
        port: host.port,
        method,
        path,
        // A streamed body cannot be sent twice, so it never rides a kept-alive socket the
        // server may have closed meanwhile (its keep_alive_timeout is a few seconds).
        agent: typeof body === 'string' || body === null ? this.#agent : this.#freshAgent,
        headers: {
          // headers, not the URL: the password never appears in a URL or a log line
          'X-ClickHouse-User': user,
          'X-ClickHouse-Key': password,
          ...(body !== null ? { 'Content-Type': contentType } : {}),
          ...(typeof body === 'string' ? { 'Content-Length': Buffer.byteLength(body) } : {}),
        },
        timeout: timeoutMs,
      });
      const connectTimer = setTimeout(() => {
        req.destroy(unreachable(`no connection within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      req.on('socket', (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      req.on('timeout', () => req.destroy(unreachable(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        // A kept-alive socket the server closed while it idled: the request never reached
        // the server, so it is sent again once on a new connection (Node's documented remedy).
        if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && !settled && (typeof body === 'string' || body === null)) {
          settled = true;
          this.#send(host, method, path, body, contentType).then(resolve, reject);
          return;
        }
        fail(err instanceof AckscopeError ? err : unreachable(err.code ?? err.message));
      });
      req.on('response', (response) => {
        clearTimeout(connectTimer);
        settled = true;
        const text = () =>
          new Promise<string>((ok, bad) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
            response.on('error', (err) => bad(unreachable(`answer cut off: ${err.message}`)));
            response.on('aborted', () => bad(unreachable('answer cut off')));
          });
        resolve({ status: response.statusCode ?? 0, text, response });
      });
      if (body === null) req.end();
      else if (typeof body === 'string') req.end(body);
      else {
        void (async () => {
          try {
            for await (const chunk of body) {
              if (req.destroyed) return;
              if (!req.write(chunk)) await new Promise<void>((ok) => {
                const done = () => { req.off('drain', done); req.off('close', done); ok(); };
                req.once('drain', done);
                req.once('close', done);
              });
            }
            req.end();
          } catch (err) {
            req.destroy(err as Error);
          }
        })();
      }
    });
  }

  async #checked(host: ClickHouseHost, result: { status: number; text: () => Promise<string> }): Promise<string> {
    const text = await result.text();
    if (result.status === 200) return text;
    const { code, message } = parseServerError(text);
    const label = hostLabel(host);
    const details = { host: label, clickhouseCode: code, httpStatus: result.status };
    if (code !== null && REFUSAL_CODES.has(code)) {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_REFUSED', `ClickHouse at ${label} refused: ${message} (code ${code})`, details);
    }
    throw new AckscopeError('ACKSCOPE_ERR_STORE_QUERY', `ClickHouse at ${label}: ${message}${code !== null ? ` (code ${code})` : ''}`, details);
  }

  /** Hosts to try in order: the one asked for, or each listed host until one answers. */
  #hostsFor(options: QueryOptions): ClickHouseHost[] {
    if (options.host !== undefined) {
      const host = this.config.hosts[options.host];
      if (!host) throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `no host ${options.host} in ACKSCOPE_STORE`);
      return [host];
    }
    return this.config.hosts;
  }

  /**
   * Runs one statement and returns the server's answer as text (the statement names its
   * FORMAT). An unreachable host is skipped for the next listed one: any shard of a
   * Distributed table answers for all of them.
   */
  async query(statement: Sql, options: QueryOptions = {}): Promise<string> {
    if (!(statement instanceof Sql)) throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', 'query() takes an Sql statement');
    let last: unknown;
    for (const host of this.#hostsFor(options)) {
      try {
        return await this.#checked(host, await this.#send(host, 'POST', this.#path(options), statement.text));
      } catch (err) {
        if (!(err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_STORE_UNREACHABLE')) throw err;
        last = err;
      }
    }
    throw last;
  }

  /** Rows of a `FORMAT JSONCompact` answer; 64-bit integers arrive as strings (the server quotes them). */
  async rows(statement: Sql, options: QueryOptions = {}): Promise<unknown[][]> {
    const text = await this.query(sql`${statement} FORMAT JSONCompact`, options);
    try {
      return (JSON.parse(text) as { data: unknown[][] }).data;
    } catch {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_QUERY', `ClickHouse answered with no valid JSON: ${text.slice(0, 500)}`);
    }
  }

  /**
   * Streams an insert: `INSERT INTO <table> (<columns>) FORMAT <format>` in the URL, the
   * rows' bytes as the body, one request for the whole stream (never a row per request).
   * Goes to one host (inserts are not repeated: the stream is consumed).
   */
  async insert(statement: Sql, rows: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: QueryOptions = {}): Promise<void> {
    const host = this.#hostsFor(options)[0];
    const path = this.#path(options, { query: statement.text });
    await this.#checked(host, await this.#send(host, 'POST', path, rows));
  }

  /**
   * Runs a query with a table of rows sent beside it (ClickHouse's "external data": a
   * multipart body, the table named and typed in the URL). How a whole session's
   * look-ups reach the server in one request instead of one request per look-up.
   * The table's name and structure come from code; its rows are TabSeparated integers.
   */
  async queryWithTable(
    statement: Sql,
    table: { name: 'lookups'; structure: string; tsv: string },
    options: QueryOptions = {},
  ): Promise<unknown[][]> {
    if (!/^[a-z_]+ (UInt8|UInt64|Int64)(, [a-z_]+ (UInt8|UInt64|Int64))*$/.test(table.structure) || !/^[0-9\t\n-]*$/.test(table.tsv)) {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', 'an external table holds integer columns only');
    }
    const boundary = `ackscope${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="${table.name}"; filename="${table.name}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${table.tsv}\r\n--${boundary}--\r\n`;
    const path = this.#path(options, {
      query: sql`${statement} FORMAT JSONCompact`.text,
      [`${table.name}_structure`]: table.structure,
      [`${table.name}_format`]: 'TabSeparated',
    });
    const host = this.#hostsFor(options)[0];
    const text = await this.#checked(host, await this.#send(host, 'POST', path, body, `multipart/form-data; boundary=${boundary}`));
    try {
      return (JSON.parse(text) as { data: unknown[][] }).data;
    } catch {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_QUERY', `ClickHouse answered with no valid JSON: ${text.slice(0, 500)}`);
    }
  }

  /** GET /ping on one host: resolves when it answers "Ok.". */
  async ping(hostIndex: number): Promise<void> {
    const host = this.#hostsFor({ host: hostIndex })[0];
    const result = await this.#send(host, 'GET', '/ping', null);
    const text = await result.text();
    if (result.status !== 200 || !text.startsWith('Ok')) {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_UNREACHABLE', `ClickHouse at ${hostLabel(host)} answered /ping with ${result.status}`, {
        host: hostLabel(host),
      });
    }
  }
}

