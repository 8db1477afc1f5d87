import fs from 'node:fs';

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
