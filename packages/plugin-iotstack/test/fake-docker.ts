import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {delimiter, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {tempDir} from '@bkcli/testkit'

// The stand-in docker's environment and call log; no fixture needed (crash, symlink and dry-run tests use it).

/** Folder of the stand-in `docker` / `docker-compose` (there is no Docker engine on the test machine). */
export const standInBin = join(dirname(fileURLToPath(import.meta.url)), 'bin')

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
