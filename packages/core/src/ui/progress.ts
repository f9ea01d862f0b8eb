import {AsyncLocalStorage} from 'node:async_hooks'

/**
 * Progress of long steps, owned by core: the engine (archives, copies, dumps, loads, hashing) reports every step
 * itself, so every plugin shows it without asking. The command sets the output once (`setProgressOutput`):
 * - 'tty':  one line per step on stderr — units, rate, ETA — redrawn at most 10 times a second, replaced by a
 *           final line when the step ends (no carriage return left mid-line);
 * - 'json': one JSON object per line on stderr (`{"step","unit","done","total","rate","eta","finished"}`) at
 *           most twice a second and once at the end of each step, for wrappers that draw their own;
 * - 'off':  nothing (the default; --quiet, --json, no terminal).
 * A plugin names a step in its own words with `withStep('dumping trac (PostgreSQL)', fn)`; engine calls inside
 * fn report under that label instead of their default one.
 */
export interface Progress {
  /** Units done so far (absolute). */
  update(done: number): void
  /** Raises the expected total when it becomes known. */
  setTotal(total: number): void
  done(): void
}

/** Where progress goes: a terminal line, JSON lines, or nowhere. */
export type ProgressMode = 'tty' | 'json' | 'off'
/** What a step counts. */
export type ProgressUnit = 'bytes' | 'rows' | 'files' | 'records' | 'pages'

const silent: Progress = {update() {}, setTotal() {}, done() {}}
let mode: ProgressMode = 'off'
let stream: NodeJS.WritableStream & {columns?: number} = process.stderr
const label = new AsyncLocalStorage<string>()

/** Where progress goes for the rest of the process (the command decides, from its flags and the terminal). */
export function setProgressOutput(next: ProgressMode, to: NodeJS.WritableStream = process.stderr): void {
  mode = next
  stream = to
}

/** Where progress goes now (set by the command from its flags and the terminal). */
export function progressOutput(): ProgressMode {
  return mode
}

/** Runs fn with engine steps inside it reported as `name`. */
export function withStep<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return label.run(name, fn)
}

/**
 * A step's progress: the label set by withStep around the caller, else `fallback`. Engine functions call this;
 * it costs nothing when progress is off.
 */
export function stepProgress(fallback: string, options: {total?: number; unit?: ProgressUnit} = {}): Progress {
  if (mode === 'off') return silent
  return startStep(label.getStore() ?? fallback, options.unit ?? 'bytes', options.total)
}

/** A byte count for people (`1.5 MiB`). */
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

function formatUnits(n: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? formatBytes(n) : `${Math.round(n).toLocaleString('en-US')} ${unit}`
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

/** BK_PROGRESS_DELAY_MS shortens the quiet first second (tests on small data). */
function quietMs(): number {
  const v = Number(process.env.BK_PROGRESS_DELAY_MS)
  return Number.isFinite(v) && v >= 0 && process.env.BK_PROGRESS_DELAY_MS !== '' ? v : 1000
}

function startStep(name: string, unit: ProgressUnit, initialTotal?: number): Progress {
  const out = stream
  const json = mode === 'json'
  const interval = json ? 500 : 100
  let total = initialTotal ?? 0
  let current = 0
  let last = 0
  let drawn = false
  let finished = false
  const started = Date.now()
  const figures = () => {
    const elapsed = (Date.now() - started) / 1000
    const rate = elapsed > 0 ? current / elapsed : 0
    const eta = total > 0 && rate > 0 ? Math.max(0, (total - current) / rate) : undefined
    return {elapsed, rate, eta}
  }
  const emit = (end: boolean) => {
    const {elapsed, rate, eta} = figures()
    if (json) {
      const event = {
        step: name,
        unit,
        done: current,
        ...(total > 0 ? {total} : {}),
        rate: Math.round(rate),
        ...(eta === undefined ? {} : {eta: Math.round(eta)}),
        ...(end ? {finished: true} : {}),
      }
      out.write(`${JSON.stringify(event)}\n`)
      return
    }
    const per = `${formatUnits(rate, unit)}/s`
    let line: string
    if (end) {
      line = `${name}  ${formatUnits(current, unit)}  ${per}  done in ${formatDuration(elapsed)}`
    } else if (total > 0) {
      const pct = Math.min(100, Math.floor((current / total) * 100))
      line = `${name}  ${formatUnits(current, unit)} / ${formatUnits(total, unit)}  ${pct}%  ${per}  ETA ${formatDuration(eta ?? Number.NaN)}`
    } else {
      line = `${name}  ${formatUnits(current, unit)}  ${per}`
    }
    const width = (out.columns || 120) - 1
    out.write(`\r${line.slice(0, width)}\x1b[K${end ? '\n' : ''}`)
    drawn = true
  }
  return {
    update(done) {
      if (finished) return
      current = done
      const now = Date.now()
      // The first second stays quiet: a step that ends by then is not long enough to show.
      if (now - started < quietMs() || now - last < interval) return
      last = now
      emit(false)
    },
    setTotal(next) {
      total = next
    },
    done() {
      if (finished) return
      finished = true
      if (json || drawn) emit(true)
    },
  }
}

/** Kept for commands that draw a step of their own: a step that shows only when `enabled`. */
export function createProgress(name: string, options: {total?: number; enabled: boolean}): Progress {
  if (!options.enabled) return silent
  return stepProgress(name, {total: options.total})
}
