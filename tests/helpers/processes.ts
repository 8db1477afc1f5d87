import fs from 'node:fs';

/** Linux: the live processes below `pid` (children, grandchildren, …), read from /proc. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the fields after its last ')' are state, ppid, …
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  for (let frontier = [pid]; frontier.length > 0;) {
    const next = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([child]) => child);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** Those of `pids` still running. */
export const stillRunning = (pids: readonly number[]): number[] => pids.filter((pid) => fs.existsSync(`/proc/${pid}`));

/** The argument vectors of every process on this machine, by pid (processes that end meanwhile are left out). */
function commandLines(): Map<number, string[]> {
  const found = new Map<number, string[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      found.set(Number(entry), fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'));
    } catch {
      // gone
    }
  }
  return found;
}

/**
 * The ilf-trainer processes training on exactly this data file (an absolute path inside the test's own
 * temporary folder), so a trainer started by another test file running in parallel never matches.
 */
export function trainerPids(dataFile: string): number[] {
  const pids: number[] = [];
  for (const [pid, argv] of commandLines()) {
    if (!argv[0]?.endsWith('/ilf-trainer')) continue;
    const at = argv.indexOf('--data');
    if (at >= 0 && argv[at + 1] === dataFile) pids.push(pid);
  }
  return pids;
}
