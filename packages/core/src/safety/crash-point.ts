const hits = new Map<string, number>()

/**
 * A named place where a test may kill bk the hard way: `BK_CRASH_AT=<name>` (or a comma-separated list) makes
 * the process SIGKILL itself there — no cleanup, no handler, as a power cut or `kill -9` would. Put one at every
 * rename, unlink and database step of a backup or restore; the crash tests then prove the target is old or new
 * and that the next run recovers. `name#N` picks the N-th time a point is passed. Costs one environment lookup
 * when unset.
 */
export function crashPoint(name: string): void {
  const at = process.env.BK_CRASH_AT
  if (!at) return
  const count = (hits.get(name) ?? 0) + 1
  hits.set(name, count)
  // `name#N` crashes at the N-th time the point is reached (the third rename of a commit: `commit:part#3`).
  const wanted = at.split(',')
  if (wanted.includes(name) || wanted.includes(`${name}#${count}`)) process.kill(process.pid, 'SIGKILL')
}
