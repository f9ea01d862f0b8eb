import {existsSync, readFileSync, writeFileSync} from 'node:fs'
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

export {sha256Of, type TreeEntry, treeOf, weekday, without} from './tree.js'
