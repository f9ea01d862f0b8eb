// `bk <app> follow --print-unit`: a systemd service running a follower with the same arguments. systemd stops
// it with SIGTERM (the follower ships what is complete and exits 0) and restarts it after a crash (it resumes
// from the last shipped position).

/** systemd's quoting of one ExecStart word. */
function quote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

/** What the unit runs and says. */
export interface FollowUnitOptions {
  /** the command line that starts the follower: node, the bk script, and the arguments */
  argv: string[]
  /** the unit's Description= */
  description: string
  user?: string
}

/** The text of a systemd service unit that runs a `follow` command and restarts it after a crash. */
export function followUnit(options: FollowUnitOptions): string {
  return [
    '[Unit]',
    `Description=${options.description}`,
    'After=local-fs.target network.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${options.argv.map(quote).join(' ')}`,
    ...(options.user ? [`User=${options.user}`] : []),
    'KillSignal=SIGTERM',
    'TimeoutStopSec=120',
    'Restart=always',
    'RestartSec=5',
    'Nice=5',
    'IOSchedulingClass=best-effort',
    'IOSchedulingPriority=7',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}
