import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { physicalCores } from './runtime.js';

/** CPU time in clock ticks: all cores' busy and total from /proc/stat, this process's own from /proc/self/stat. */
function cpuTicks(): { busy: number; total: number; own: number } | undefined {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0); // idle + iowait
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal (guest time is already in user)
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ');
    const own = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15 of the whole line)
    if (!Number.isFinite(total) || total <= 0 || !Number.isFinite(own)) return undefined;
    return { busy: total - idle, total, own };
  } catch {
    return undefined;
  }
}

/**
 * Cores other processes leave free, measured over `ms`: the machine's idle share of all its logical
 * cores, plus what this process itself used. undefined where the kernel does not say (not Linux).
 */
export async function freeCores(ms = 150): Promise<number | undefined> {
  const a = cpuTicks();
  if (!a) return undefined;
  await sleep(ms);
  const b = cpuTicks();
  if (!b || b.total <= a.total) return undefined;
  const logical = fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length || 1;
  const othersBusy = Math.max(0, (b.busy - a.busy) - (b.own - a.own)) / (b.total - a.total); // share of all cores
  return Math.max(0, logical * (1 - othersBusy));
}

/**
 * Threads for llama.cpp's CPU math when cores are shared. ggml's threads spin at every barrier
 * between operations: with more threads than free cores, one of them is descheduled and the others
 * spin until it runs again, at every one of the graph's hundreds of barriers, so a decode gets many
 * times slower (batched sampling fell to 0.31× of one sequence while another process used a core).
 * One thread fewer than needed costs at most its share. So: the physical cores, less those other
 * processes keep busy (rounded down with a little slack), at least one.
 */
export async function threadsForFreeCores(limit = physicalCores(), ms?: number): Promise<{ threads: number; freeCores: number | undefined }> {
  const free = await freeCores(ms);
  if (free === undefined) return { threads: limit, freeCores: undefined };
  return { threads: Math.max(1, Math.min(limit, Math.floor(free + 0.25))), freeCores: free };
}
