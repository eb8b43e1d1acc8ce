import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { healthGauges } from '../../clickhouse/health.js';
import { threadMemory, type ThreadMemory } from '../../core/thread-memory.js';

/** A thread's memory as one gauge's three series (heap used, external, array buffers). */
function setThreadMemory(gauge: Gauge<'kind'>, m: ThreadMemory): void {
  gauge.set({ kind: 'heap_used' }, m.heapUsed);
  gauge.set({ kind: 'external' }, m.external);
  gauge.set({ kind: 'array_buffers' }, m.arrayBuffers);
}

/**
 * Prometheus metrics at GET /metrics: request timings from a small hook (fastify-metrics
 * 14 needs Node 22) and what the sessions table says about captures, read at scrape time
 * so the numbers are never stale and cost nothing between scrapes.
 */
export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ackscope_process_' });

  const requestSeconds = new Histogram({
    name: 'ackscope_http_request_duration_seconds',
    help: 'HTTP request time by route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
    registers: [registry],
  });
  const started = new WeakMap<object, bigint>();
  app.addHook('onRequest', async (req) => {
    started.set(req, process.hrtime.bigint());
  });
  app.addHook('onResponse', async (req, reply) => {
    const t0 = started.get(req);
    if (t0 === undefined) return;
    const route = req.routeOptions.url ?? 'unmatched';
    requestSeconds.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      Number(process.hrtime.bigint() - t0) / 1e9,
    );
  });

  new Gauge({
    name: 'ackscope_sessions',
    help: 'Sessions by state and kind',
    labelNames: ['state', 'kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      // an unreachable store leaves the gauge empty: ackscope_store_up says why
      const rows = await app.store.sessionCounts().catch(() => []);
      for (const r of rows) this.set({ state: r.state, kind: r.kind }, r.n);
    },
  });
  const storeUp = new Gauge({
    name: 'ackscope_store_up',
    help: 'Whether the store answers with the schema this ackscope knows (1) or not (0), per ClickHouse host',
    labelNames: ['store', 'host'] as const,
    registers: [registry],
  });
  const storeSchema = new Gauge({
    name: 'ackscope_store_schema_version',
    help: "The store's recorded schema version per ClickHouse host (-1: could not be read)",
    labelNames: ['store', 'host'] as const,
    registers: [registry],
  });
  /** Read once per scrape (both gauges from one health check, bounded in time by the store). */
  const readStoreHealth = async () => {
    storeUp.reset();
    storeSchema.reset();
    const health = await app.store.health();
    if (!health.clickhouse) {
      storeUp.set({ store: health.store, host: 'local' }, health.ok ? 1 : 0);
      return;
    }
    for (const g of healthGauges(health.clickhouse)) (g.name === 'ackscope_store_up' ? storeUp : storeSchema).set(g.labels as { store: string; host: string }, g.value);
  };
  new Gauge({
    name: 'ackscope_capture_frames',
    help: 'Frames of sessions now capturing: read, TCP, and dropped by the kernel or the interface',
    labelNames: ['session', 'what'] as const,
    registers: [registry],
    // the sessions the capture manager runs, each read from the store (either store)
    async collect() {
      this.reset();
      for (const id of app.captures.runningSessions()) {
        const r = await app.store.getSession(id);
        if (!r || r.state !== 'capturing') continue;
        const session = String(id);
        this.set({ session, what: 'read' }, Number(r.frames_total ?? 0));
        this.set({ session, what: 'tcp' }, Number(r.frames_tcp ?? 0));
        this.set({ session, what: 'kernel_dropped' }, Number(r.pcap_dropped ?? 0));
        this.set({ session, what: 'if_dropped' }, Number(r.pcap_if_dropped ?? 0));
      }
    },
  });

  new Gauge({
    name: 'ackscope_capture_worker_memory_bytes',
    help: "A capture worker thread's own V8 memory (heap used, external, array buffers), from its last sample (every second)",
    labelNames: ['session', 'kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [id, s] of app.captures.samples()) {
        const session = String(id);
        this.set({ session, kind: 'heap_used' }, s.memory.heapUsed);
        this.set({ session, kind: 'external' }, s.memory.external);
        this.set({ session, kind: 'array_buffers' }, s.memory.arrayBuffers);
      }
    },
  });
  new Gauge({
    name: 'ackscope_correlation_worker_memory_bytes',
    help: "The correlation worker thread's own V8 memory (its results cache lives there), as of its last answer",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const m = app.correlations.workerMemory;
      if (m) setThreadMemory(this, m);
    },
  });
  new Gauge({
    name: 'ackscope_ingest_worker_memory_bytes',
    help: "The ingest worker thread's own V8 memory, as of its last stored upload (uploads of one batch are stored on the service's thread)",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (app.store.kind !== 'sqlite') return; // the ingest worker is the SQLite store's
      const m = app.completionIngest.workerMemory;
      if (m) setThreadMemory(this, m);
    },
  });
  // the default nodejs_* metrics have the heap and external memory but not the array
  // buffers (typed arrays, Buffers): the same three series as the worker threads'
  new Gauge({
    name: 'ackscope_main_thread_memory_bytes',
    help: "The service's own thread's V8 memory (heap used, external, array buffers), at the scrape",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      setThreadMemory(this, threadMemory());
    },
  });
  new Gauge({
    name: 'ackscope_capture_queued_batches',
    help: 'Batches the capture thread read and the worker has not taken yet (bounded: beyond it the kernel ring fills and drops)',
    labelNames: ['session'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [id, s] of app.captures.samples()) {
        if (s.queuedBatches !== null) this.set({ session: String(id) }, s.queuedBatches);
      }
    },
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    await readStoreHealth();
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
};
// Not encapsulated (what fastify-plugin does): the timing hooks must see every route.
Object.assign(metricsRoutes, { [Symbol.for('skip-override')]: true });
