import {homedir} from 'node:os'
import {join} from 'node:path'

/**
 * Where bk keeps what it remembers between runs (the run log): BK_STATE_DIR, else /var/lib/bk for root, else
 * $XDG_STATE_HOME/bk (~/.local/state/bk).
 */
export function stateDir(): string {
  if (process.env.BK_STATE_DIR) return process.env.BK_STATE_DIR
  if (process.getuid?.() === 0) return '/var/lib/bk'
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'bk')
}
