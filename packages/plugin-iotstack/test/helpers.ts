import {createHash} from 'node:crypto'
import {existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import {delimiter, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {extractFixture, tempDir} from '@bkcli/testkit'

/** Folder of the stand-in `docker` / `docker-compose` (there is no Docker engine on the test machine). */
export const standInBin = join(dirname(fileURLToPath(import.meta.url)), 'bin')

/** A fresh copy of the fixture stack (extracted as root: owners 1883/1234/472 kept). */
export function fixtureStack(): string {
  return join(extractFixture('iotstack', 'stack'), 'stack')
}

export interface FakeDocker {
  env: Record<string, string>
  log: string
  state: string
  calls(): {
    tool: string
    argv: string[]
    cmdline: string
    cwd: string
    stdinBytes: number
    stdinSha256: string
    hook?: string
  }[]
  /** Subcommand lines in order, e.g. 'compose down'. */
  sequence(): string[]
  setUp(up: boolean): void
}

/** Environment that puts the stand-in docker first on PATH, recording calls into a temp log. */
export function fakeDocker(extra: Record<string, string> = {}): FakeDocker {
  const dir = tempDir('bk-fake-docker-')
  const log = join(dir, 'calls.jsonl')
  const state = join(dir, 'state')
  const env = {
    PATH: `${standInBin}${delimiter}${process.env.PATH}`,
    BK_FAKE_DOCKER_LOG: log,
    BK_FAKE_DOCKER_STATE: state,
    ...extra,
  }
  const calls = () =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : []
  return {
    env,
    log,
    state,
    calls,
    sequence: () =>
      calls().map((c) =>
        c.hook ? `hook ${c.hook}` : `${c.tool === 'docker' ? '' : 'docker-compose '}${c.argv.join(' ')}`,
      ),
    setUp: (up) => writeFileSync(state, up ? 'up' : 'down'),
  }
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink'
  mode: string
  uid: number
  gid: number
  size?: number
  sha256?: string
  link?: string
}

/** Every entry under `root` (except the top-level names in `exclude`: by default backups/ and restore's kept copies), with owners, modes, contents' sha256 and link targets. */
export function treeOf(root: string, exclude: string[] = ['backups', '.bk-kept']): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {}
  const visit = (rel: string) => {
    const abs = rel ? join(root, rel) : root
    for (const name of readdirSync(abs).sort()) {
      if (!rel && exclude.includes(name)) continue
      const path = rel ? `${rel}/${name}` : name
      const st = lstatSync(join(root, path))
      const base = {mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid}
      if (st.isSymbolicLink()) out[path] = {type: 'symlink', ...base, link: readlinkSync(join(root, path))}
      else if (st.isDirectory()) {
        out[path] = {type: 'dir', ...base}
        visit(path)
      } else {
        const data = readFileSync(join(root, path))
        out[path] = {type: 'file', ...base, size: st.size, sha256: createHash('sha256').update(data).digest('hex')}
      }
    }
  }
  visit('')
  return out
}

export function without<T>(tree: Record<string, T>, ...names: string[]): Record<string, T> {
  const copy = {...tree}
  for (const name of names) delete copy[name]
  return copy
}

/** `date +%u` of now, local time (1..7, Monday = 1). */
export function weekday(date = new Date()): number {
  return date.getDay() === 0 ? 7 : date.getDay()
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}
