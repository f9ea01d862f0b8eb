/**
 * Children that die with bk: a `kill -9` of bk (the OOM killer, a CI timeout) runs no cleanup, and GNU tar, pigz or
 * zstd would go on writing the `.bk-partial-…` file for minutes, orphaned. On Linux each is started through
 * util-linux's `setpriv --pdeathsig KILL`, which asks the kernel to kill it when bk's main thread (the one that
 * spawns) dies, then execs the program (same pid, same pipes). Where setpriv is missing or too old, programs start
 * plainly: then they end at their own pace (their input closes), and the next run sweeps the partial file as the
 * leftover of a dead process, as before.
 */
import {type ChildProcess, type SpawnOptions, spawn, spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {whichProgramSync} from '../process/program.js'

/** Per PATH value: setpriv's path when it sets a parent-death signal, '' when not. */
const wrappers = new Map<string, string>()

/** A program as execvp finds it (an executable regular file), or undefined: a plain spawn then gives the failure. */
function onPath(name: string): string | undefined {
  return whichProgramSync(name)
}

/**
 * setpriv, when present and able to set a parent-death signal here. Told first by the option's name in the program
 * file (util-linux 2.33 and later); then asked once (per PATH value) to set it and run itself (`--version`), because
 * a kernel may refuse prctl(PR_SET_PDEATHSIG) (a seccomp profile): setpriv then exits 127 with "set parent death
 * signal failed" before it runs anything, and every archive would fail. Such a setpriv, or one that cannot run at
 * all, is not used: programs start plainly (as where setpriv is missing). The question (one short spawn per run) is
 * asked only where a seccomp filter applies.
 */
function deathSignalWrapper(): string | undefined {
  if (process.platform !== 'linux') return undefined
  const key = process.env.PATH ?? ''
  let found = wrappers.get(key)
  if (found === undefined) {
    const setpriv = onPath('setpriv')
    let works = false
    try {
      works =
        setpriv !== undefined &&
        readFileSync(setpriv).includes('--pdeathsig') &&
        (!seccomp.filtered() || setsDeathSignal(setpriv))
    } catch {}
    found = works && setpriv ? setpriv : ''
    wrappers.set(key, found)
  }
  return found || undefined
}

/**
 * Whether a seccomp filter applies to this process (`Seccomp: 2` in /proc/self/status): only a filter can refuse
 * prctl(PR_SET_PDEATHSIG), so only then is setpriv asked first (its spawn blocks the main thread 5-20 ms). An object,
 * so that a test can stand in for a filtered process.
 */
export const seccomp = {
  filtered(): boolean {
    try {
      return /^Seccomp:\s*[12]\b/m.test(readFileSync('/proc/self/status', 'utf8'))
    } catch {
      return true
    }
  },
}

/** The arguments of the probe: setpriv sets the signal and runs itself (nothing else need exist). */
const probeArgs = (setpriv: string) => ['--pdeathsig', 'KILL', '--', setpriv, '--version']

/** True when `setpriv --pdeathsig KILL` can run a program here. */
function setsDeathSignal(setpriv: string): boolean {
  const probe = spawnSync(setpriv, probeArgs(setpriv), {stdio: ['ignore', 'ignore', 'ignore'], timeout: 10_000})
  return probe.error === undefined && probe.status === 0
}

/** setsDeathSignal, its answer waited for off the main thread. */
function setsDeathSignalLater(setpriv: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = spawn(setpriv, probeArgs(setpriv), {stdio: ['ignore', 'ignore', 'ignore'], timeout: 10_000})
    probe.once('error', () => resolve(false))
    probe.once('close', (status) => resolve(status === 0))
  })
}

/** Answers in the making (per PATH value), by tiedReady(). */
const answering = new Map<string, Promise<void>>()

/**
 * deathSignalWrapper's answer, found without blocking the main thread (its probe spawned, not waited for there), so
 * that spawnTied has it at hand. Archive creation starts it on entry and awaits it before its first spawn: the
 * probe's run (5-50 ms) overlaps the work in between.
 */
export function tiedReady(): Promise<void> {
  if (process.platform !== 'linux') return Promise.resolve()
  const key = process.env.PATH ?? ''
  if (wrappers.has(key)) return Promise.resolve()
  let ready = answering.get(key)
  if (!ready) {
    ready = (async () => {
      const setpriv = onPath('setpriv')
      let works = false
      try {
        works =
          setpriv !== undefined &&
          (await readFile(setpriv)).includes('--pdeathsig') &&
          (!seccomp.filtered() || (await setsDeathSignalLater(setpriv)))
      } catch {}
      if (!wrappers.has(key)) wrappers.set(key, works && setpriv ? setpriv : '')
    })().finally(() => answering.delete(key))
    answering.set(key, ready)
  }
  return ready
}

/**
 * Variables of the user's environment that tar, gzip and pigz read as extra options (TAR_OPTIONS=--strip-components=1,
 * PIGZ=-z, GZIP=...): an archive written or a tree extracted other than the one bk asked for and checked.
 */
const OPTION_VARIABLES = ['TAR_OPTIONS', 'GZIP', 'PIGZ']

/** `env` (default process.env) without {@link OPTION_VARIABLES}. */
function withoutOptionVariables(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const clean = {...(env ?? process.env)}
  for (const name of OPTION_VARIABLES) delete clean[name]
  return clean
}

/**
 * spawn(program, args, options), the child killed by the kernel when this process dies (where it can be), and
 * without the environment variables that would add options to tar, gzip or pigz.
 */
export function spawnTied(program: string, args: string[], spawnOptions: SpawnOptions): ChildProcess {
  const options = {...spawnOptions, env: withoutOptionVariables(spawnOptions.env)}
  const wrapper = deathSignalWrapper()
  // a program not found starts plainly, so that its failure stays spawn's ENOENT
  const resolved = wrapper ? onPath(program) : undefined
  if (!wrapper || !resolved) return spawn(program, args, options)
  // a failure to start (EMFILE, EAGAIN) names the program, as a plain spawn's does: never setpriv
  const asProgram = (error: NodeJS.ErrnoException & {spawnargs?: string[]}) => {
    if (error.path !== wrapper) return error
    error.message = error.message.replace(`spawn ${wrapper}`, `spawn ${program}`)
    return Object.assign(error, {syscall: `spawn ${program}`, path: program, spawnargs: args})
  }
  let child: ChildProcess
  try {
    child = spawn(wrapper, ['--pdeathsig', 'KILL', '--', resolved, ...args], options)
  } catch (error) {
    throw asProgram(error as NodeJS.ErrnoException)
  }
  child.prependListener('error', (error) => {
    asProgram(error)
    if (child.listenerCount('error') === 1) throw error // no one else listens: as unhandled as it would have been
  })
  return child
}
