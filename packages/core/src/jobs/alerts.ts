import {spawn} from 'node:child_process'
import {messageOf} from '../errors.js'
import {redactText} from '../ui/redact.js'
import type {AlertTargets} from './config.js'

/** A ping or topic URL is itself a secret (whoever has it can post): shown as scheme://host/… only. */
export function maskAlertUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}/…`
  } catch {
    return '…'
  }
}

async function post(url: string, body: string | undefined, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    body,
    headers,
    signal: AbortSignal.timeout(10_000),
  })
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
}

function sendmail(to: string, subject: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sendmail', ['-t', '-oi'], {stdio: ['pipe', 'ignore', 'pipe']})
    let err = ''
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err.trim() || `sendmail exit ${code}`))))
    // The address goes in the message, not argv.
    child.stdin.end(`To: ${to}\nSubject: ${subject}\nContent-Type: text/plain; charset=utf-8\n\n${body}\n`)
  })
}

/** What an alert announces: a job started, succeeded, or failed with a subject and body. */
export type AlertEvent = {kind: 'start'} | {kind: 'ok'} | {kind: 'fail'; subject: string; body: string}

/**
 * Announce an event to the targets: healthchecks-style pings for start/ok/fail (the error's last lines as the
 * fail body), ntfy and mail for failures only. Never throws: returns one warning per target it could not reach
 * (URLs masked), because a down alerting service must not fail the backup.
 */
export async function announce(targets: AlertTargets, event: AlertEvent): Promise<string[]> {
  const warnings: string[] = []
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn()
    } catch (error) {
      warnings.push(`could not alert ${what}: ${redactText(messageOf(error))}`)
    }
  }
  const base = targets.ping?.replace(/\/+$/, '')
  if (base) {
    const url = event.kind === 'start' ? `${base}/start` : event.kind === 'fail' ? `${base}/fail` : base
    await attempt(maskAlertUrl(base), () => post(url, event.kind === 'fail' ? event.body : undefined))
  }
  if (event.kind !== 'fail') return warnings
  const ntfy = targets.ntfy
  if (ntfy) {
    await attempt(maskAlertUrl(ntfy), () =>
      post(ntfy, event.body, {Title: event.subject, Priority: 'high', Tags: 'warning'}),
    )
  }
  const mail = targets.mail
  if (mail) await attempt(`mail to ${mail}`, () => sendmail(mail, event.subject, event.body))
  return warnings
}
