/**
 * Output folders appear complete or not at all: built in a stage beside the destination, renamed at the end.
 */
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import {mkdir, rename, rm, rmdir} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core'

export function assertEmptyTarget(dest: string): void {
  if (!existsSync(dest)) return
  if (!statSync(dest).isDirectory()) throw new BkError(`${dest} exists and is not a directory; choose a new directory`)
  if (readdirSync(dest).length > 0) throw new BkError(`${dest} is not empty; choose a new or empty directory`)
}

export async function writeDirAtomically<T>(destArg: string, build: (stage: string) => Promise<T>): Promise<T> {
  const dest = resolve(destArg)
  assertEmptyTarget(dest)
  await mkdir(dirname(dest), {recursive: true})
  const stage = join(dirname(dest), `.${basename(dest)}.bk-partial-${process.pid}`)
  await rm(stage, {recursive: true, force: true})
  await mkdir(stage, {recursive: true})
  const cleanup = () => {
    try {
      rmSync(stage, {recursive: true, force: true})
    } catch {}
  }
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await build(stage)
    if (existsSync(dest)) await rmdir(dest)
    await rename(stage, dest)
    return result
  } catch (error) {
    await rm(stage, {recursive: true, force: true})
    throw error
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
}
