import {type ChildProcess, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export interface Child {
  proc: ChildProcess
  /** Resolves with the first stdout line starting with `prefix`. */
  waitFor(prefix: string): Promise<string>
  output(): string
  stdout(): string
  stderr(): string
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
}

/** Start test/safety-child.mjs (or another helper) in its own process. */
export function startChild(args: string[], script = 'safety-child.mjs', env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [join(here, script), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {...process.env, ...env},
  })
  let out = ''
  let err = ''
  const waiters: {prefix: string; resolve: (line: string) => void}[] = []
  const check = () => {
    for (const line of out.split('\n')) {
      for (const w of [...waiters]) {
        if (line.startsWith(w.prefix)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  }
  proc.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    check()
  })
  proc.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
    proc.on('exit', (code, signal) => resolve({code, signal})),
  )
  return {
    proc,
    output: () => out + err,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(prefix: string) {
      return new Promise((resolve, reject) => {
        waiters.push({prefix, resolve})
        check()
        exited.then(() => setTimeout(() => reject(new Error(`child exited before '${prefix}': ${out}${err}`)), 50))
      })
    },
  }
}

/** A digest of every file (path, mode, bytes) under a directory, to compare trees byte for byte. */
export function treeDigest(dir: string): string {
  const hash = createHash('sha256')
  const visit = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(dir, rel, name)
      const st = statSync(path)
      hash.update(`${join(rel, name)} ${st.mode}\n`)
      if (st.isDirectory()) visit(join(rel, name))
      else hash.update(readFileSync(path))
    }
  }
  visit('')
  return hash.digest('hex')
}

/** A pid that certainly is not running: a child that has already exited. */
export async function deadPid(): Promise<number> {
  const proc = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
  const pid = proc.pid as number
  await new Promise((resolve) => proc.on('exit', resolve))
  return pid
}
