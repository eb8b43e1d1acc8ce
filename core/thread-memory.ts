/**
 * A thread's own V8 memory, bytes: in a worker thread process.memoryUsage() answers for
 * that thread's isolate (all but rss, which is the process's). Worker threads report it
 * to the service's thread (the capture workers every second, the correlation worker with
 * every answer, the ingest worker with every stored upload) for /metrics and bench/soak.ts;
 * the service's own thread reads it at each scrape.
 */
export interface ThreadMemory {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export function threadMemory(): ThreadMemory {
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, external, arrayBuffers };
}
