/**
 * A named place where a test may kill bk the hard way: `BK_CRASH_AT=<name>` (or a comma-separated list) makes
 * the process SIGKILL itself there — no cleanup, no handler, as a power cut or `kill -9` would. Put one at every
 * rename, unlink and database step of a backup or restore; the crash tests then prove the target is old or new
 * and that the next run recovers. Costs one environment lookup when unset.
 */
export function crashPoint(name: string): void {
  const at = process.env.BK_CRASH_AT
  if (!at) return
  if (at === name || at.split(',').includes(name)) process.kill(process.pid, 'SIGKILL')
}
