/**
 * Stopping roundup-server before a backup, as the admin guide asks: SIGTERM to the pid in its pidfile
 * (roundup-server writes the daemon's pid and never removes the file, so a stale pidfile is refused).
 * Nothing is restarted: bk starts nothing the user did not ask for.
 */
import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {BkError, pidAlive} from '@bkcli/core'

export interface StoppedServer {
  pidfile: string
  pid: number
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
  } catch {
    return ''
  }
}

/** The pid of the roundup-server a pidfile names, checked (running, a roundup process); reads only. */
export function serverPid(pidfile: string): number {
  let text: string
  try {
    text = readFileSync(pidfile, 'utf8').trim()
  } catch {
    throw new BkError(`cannot read the pidfile ${pidfile}; give the pidfile roundup-server writes (-d or pidfile =)`)
  }
  const pid = Number(text.split(/\s+/)[0])
  if (!Number.isInteger(pid) || pid <= 1) throw new BkError(`${pidfile} does not hold a process id`)
  if (!pidAlive(pid)) {
    throw new BkError(
      `stale pidfile ${pidfile}: pid ${pid} is not running (is roundup-server stopped already? remove the pidfile)`,
    )
  }
  const cmd = commandLine(pid)
  if (cmd && !/roundup/i.test(cmd)) {
    throw new BkError(`pid ${pid} from ${pidfile} is not a roundup-server (${cmd.slice(0, 60)}); not stopping it`)
  }
  return pid
}

export async function stopServer(pidfile: string, timeoutMs = 15000): Promise<StoppedServer> {
  const pid = serverPid(pidfile)
  process.kill(pid, 'SIGTERM')
  const until = Date.now() + timeoutMs
  while (pidAlive(pid) && Date.now() < until) await sleep(100)
  if (pidAlive(pid))
    throw new BkError(`roundup-server (pid ${pid}) did not stop within ${timeoutMs / 1000}s after SIGTERM`)
  return {pidfile, pid}
}
