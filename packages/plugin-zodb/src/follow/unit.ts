// `bk zodb follow --print-unit`: a systemd service that runs the follower with the same arguments. systemd
// stops it with SIGTERM (the follower ships what is complete and exits 0) and restarts it after a crash (it
// resumes from the last shipped position, verified against the .dat checksum).

/** systemd's quoting of one ExecStart word. */
function quote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

export interface UnitOptions {
  /** the command line that starts the follower: node, the bk script, and the arguments */
  argv: string[]
  datafs: string
  location: string
  user?: string
}

export function systemdUnit(options: UnitOptions): string {
  return [
    '[Unit]',
    `Description=bk zodb follow: continuous repozo backup of ${options.datafs} into ${options.location}`,
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
