import {createInterface} from 'node:readline/promises'
import {BkError} from '../errors.js'

/**
 * Asks a yes/no question on the terminal. `assumeYes` (--yes/--no-prompt) answers yes without asking;
 * without a terminal and without --yes it refuses, so cron jobs never hang or destroy data silently.
 */
export async function confirm(question: string, options: {assumeYes: boolean; action: string}): Promise<boolean> {
  if (options.assumeYes) return true
  if (!process.stdin.isTTY) {
    throw new BkError(`refusing to ${options.action} without --yes (no terminal to ask)`, {exit: 1, code: 'ENOCONFIRM'})
  }
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase()
    return answer === 'y' || answer === 'yes'
  } finally {
    rl.close()
  }
}
