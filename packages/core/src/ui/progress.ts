export interface Progress {
  /** Bytes (or units) done so far. */
  update(done: number): void
  /** Raises the expected total when it becomes known. */
  setTotal(total: number): void
  done(): void
}

const silent: Progress = {update() {}, setTotal() {}, done() {}}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

/**
 * A one-line progress bar with bytes and ETA, redrawn at most every 100 ms on a TTY stderr.
 * Off a terminal (cron, pipes, --json, --quiet) it draws nothing.
 */
export function createProgress(
  label: string,
  options: {total?: number; enabled: boolean; stream?: NodeJS.WriteStream},
): Progress {
  const stream = options.stream ?? process.stderr
  if (!options.enabled || !stream.isTTY) return silent
  let total = options.total ?? 0
  let current = 0
  let lastDraw = 0
  const started = Date.now()
  const draw = (force: boolean) => {
    const now = Date.now()
    if (!force && now - lastDraw < 100) return
    lastDraw = now
    const elapsed = (now - started) / 1000
    let line = `${label}  ${formatBytes(current)}`
    if (total > 0) {
      const ratio = Math.min(1, current / total)
      const width = 24
      const filled = Math.round(ratio * width)
      const eta = current > 0 ? (elapsed * (total - current)) / current : Number.NaN
      line = `${label}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${formatBytes(current)} / ${formatBytes(total)}  ${Math.floor(ratio * 100)}%  ETA ${formatDuration(eta)}`
    }
    stream.write(`\r${line.slice(0, (stream.columns || 120) - 1)}\x1b[K`)
  }
  return {
    update(done) {
      current = done
      draw(false)
    },
    setTotal(next) {
      total = next
    },
    done() {
      draw(true)
      stream.write('\n')
    },
  }
}
