/**
 * What the store benchmarks print beside each figure (bench/service-stores.ts,
 * bench/web-stores.ts): the load average, this process's CPU time (all its threads) and
 * another process's (a ClickHouse server), so a figure says where the work went on a
 * machine other sessions share.
 */
import { readFileSync } from 'node:fs';

/** /proc/loadavg's three averages. */
export const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process, seconds. */
export function processCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** This process's CPU time, every thread, seconds. */
export function ownCpuS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
