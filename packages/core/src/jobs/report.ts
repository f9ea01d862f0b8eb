import {formatBytes} from '../ui/progress.js'
import type {Job} from './config.js'
import type {RunRecord} from './runlog.js'
import type {JobStatus} from './status.js'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const STATE_COLOR: Record<string, string> = {
  ok: '#1a7f37',
  stale: '#bf8700',
  failed: '#cf222e',
  never: '#6e7781',
  missing: '#cf222e',
}

/** A timeline of one job's runs: x = time, y = size, green good, red failed, a ring when not verified. */
function timeline(runs: RunRecord[], from: number, to: number): string {
  const width = 760
  const height = 120
  const pad = 24
  const span = Math.max(1, to - from)
  const max = Math.max(1, ...runs.map((r) => (r.artifacts ?? []).reduce((n, a) => n + a.bytes, 0)))
  const x = (t: number) => pad + ((t - from) / span) * (width - 2 * pad)
  const y = (b: number) => height - pad - (b / max) * (height - 2 * pad)
  const marks = runs.map((r) => {
    const bytes = (r.artifacts ?? []).reduce((n, a) => n + a.bytes, 0)
    const cx = x(Date.parse(r.started)).toFixed(1)
    const title = `${r.started.replace('T', ' ').slice(0, 16)} UTC · ${r.status}${r.status === 'ok' ? ` · ${formatBytes(bytes)} · ${r.seconds}s` : ''}`
    if (r.status === 'failed') {
      return `<g class="fail"><title>${esc(title)}</title><line x1="${cx}" y1="${pad}" x2="${cx}" y2="${height - pad}" stroke="#cf222e" stroke-width="2"/></g>`
    }
    const fill = r.verified === false ? 'none' : '#1a7f37'
    return `<g class="ok"><title>${esc(title)}</title><circle cx="${cx}" cy="${y(bytes).toFixed(1)}" r="5" fill="${fill}" stroke="#1a7f37" stroke-width="2"/></g>`
  })
  const day = (t: number) => new Date(t).toISOString().slice(0, 10)
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="timeline">
<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#d0d7de"/>
<text x="${pad}" y="${height - 6}" font-size="11" fill="#57606a">${day(from)}</text>
<text x="${width - pad}" y="${height - 6}" font-size="11" fill="#57606a" text-anchor="end">${day(to)}</text>
<text x="${pad}" y="14" font-size="11" fill="#57606a">${esc(formatBytes(max))}</text>
${marks.join('\n')}
</svg>`
}

function runRows(runs: RunRecord[]): string {
  return [...runs]
    .reverse()
    .slice(0, 30)
    .map((r) => {
      const bytes = (r.artifacts ?? []).reduce((n, a) => n + a.bytes, 0)
      const verified = r.verified === undefined ? '–' : r.verified ? 'yes' : 'no'
      const offsite = r.offsite === undefined ? '–' : r.offsite ? 'yes' : 'no'
      return `<tr class="${r.status}"><td>${esc(r.started.replace('T', ' ').slice(0, 19))}</td><td>${r.status}</td><td>${r.seconds} s</td><td>${r.status === 'ok' ? esc(formatBytes(bytes)) : ''}</td><td>${verified}</td><td>${offsite}</td><td class="err">${esc((r.error ?? '').split('\n').slice(-3).join(' · '))}</td></tr>`
    })
    .join('\n')
}

/** One self-contained HTML page (inline CSS and SVG, no script, nothing fetched when viewed). */
export function renderReport(jobs: Job[], statuses: JobStatus[], runs: RunRecord[], now = new Date()): string {
  const from = Math.min(now.getTime() - 7 * 86_400_000, ...runs.map((r) => Date.parse(r.started)))
  const to = now.getTime()
  const sections = jobs.map((job) => {
    const status = statuses.find((s) => s.job === job.name)
    const mine = runs.filter((r) => r.job === job.name)
    const state = status?.state ?? 'never'
    const good = status?.lastGood
    return `<section id="job-${esc(job.name)}">
<h2>${esc(job.name)} <span class="state" style="background:${STATE_COLOR[state]}">${state}</span></h2>
<p class="cmd"><code>bk ${esc(job.run.replace(/^bk\s+/, ''))}</code> · schedule ${esc(job.schedule)}</p>
<p>${good ? `Last good backup ${esc(good.finished.replace('T', ' ').slice(0, 16))} UTC (${Math.round(good.ageSeconds / 3600)} h ago), ${esc(formatBytes(good.bytes))}, verified: ${good.verified === undefined ? 'not checked' : good.verified ? 'yes' : 'no'}, off-site: ${good.offsite ? `yes (${esc((good.offsiteTargets ?? []).join(', '))})` : 'no'}.` : 'No good backup yet.'}${status && status.problems.length > 0 ? ` <strong>${esc(status.problems.join('; '))}</strong>` : ''}</p>
${timeline(mine, from, to)}
<table><thead><tr><th>started (UTC)</th><th>status</th><th>took</th><th>size</th><th>verified</th><th>off-site</th><th>error</th></tr></thead>
<tbody>${runRows(mine)}</tbody></table>
</section>`
  })
  const bad = statuses.filter((s) => s.state !== 'ok').length
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bk report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:860px;color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.state{color:#fff;border-radius:1em;padding:.1em .6em;font-size:.8rem;vertical-align:middle}
.cmd{color:#57606a}table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .4rem;text-align:left}tr.failed td{color:#cf222e}
td.err{max-width:22rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
</style></head><body>
<h1>bk report</h1>
<p id="summary">${jobs.length} jobs, ${bad === 0 ? 'all ok' : `${bad} need attention`} · made ${esc(now.toISOString().replace('T', ' ').slice(0, 16))} UTC</p>
${sections.join('\n')}
</body></html>
`
}
