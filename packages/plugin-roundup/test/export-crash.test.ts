/**
 * `bk roundup export` killed (SIGKILL) while it moves a later copy chunk's folders into `<class>-files`: the
 * destination never shows a partial export (an existing empty folder stays, empty), and the next run removes the dead
 * run's stage and writes an export byte-identical to an uninterrupted one.
 */
import {existsSync, mkdirSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'
import {makeExampleTracker} from '../src/example.js'
import {listFiles, treeDifferences} from './helpers.js'

let home: string
/** An export by an uninterrupted run with the default chunk size (one chunk per class). */
let clean: string

beforeAll(async () => {
  home = join(tempDir(), 'tracker')
  // 900 issues: 2700 messages in db/files/msg/0..2 (three chunks of one folder each at chunk size 1)
  await makeExampleTracker(home, {issues: 900})
  clean = join(tempDir(), 'clean')
  const r = await runBk(['roundup', 'export', home, clean])
  expect(r.exitCode, r.stderr).toBe(0)
}, 120_000)

/** One content per chunk: each folder of db/files/msg is a chunk of its own, the later two renamed in. */
const SMALL_CHUNKS = {BK_ROUNDUP_COPY_CHUNK: '1'}

describe('bk roundup export killed at a chunk rename', () => {
  // chunks are copied one after another: #1 comes after msg-files/1 is moved in (chunk 2 not yet copied), #2 after
  // msg-files/2; in both the chunk's own folder is not yet removed
  for (const point of ['roundup-export:chunk-rename#1', 'roundup-export:chunk-rename#2']) {
    for (const before of ['absent', 'an empty folder'] as const) {
      it(`${point}, destination ${before}: no partial export; the next run removes the stage, same bytes as a clean export`, async () => {
        const parent = tempDir()
        const dest = join(parent, 'export')
        if (before === 'an empty folder') mkdirSync(dest)
        const crashed = await runBk(['roundup', 'export', home, dest], {env: {...SMALL_CHUNKS, BK_CRASH_AT: point}})
        expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
        // the kill came mid-copy, inside the stage: the chunks are half moved in
        const stages = readdirSync(parent).filter((n) => n.startsWith('.export.bk-partial-'))
        expect(stages).toHaveLength(1)
        const stage = join(parent, stages[0] as string)
        const n = point.endsWith('#1') ? 1 : 2
        expect(readdirSync(join(stage, 'msg-files')).sort()).toEqual(['0', '1', '2'].slice(0, n + 1))
        expect(readdirSync(join(stage, `msg-files.${n}`))).toEqual([])
        // the destination as it was: absent, or the empty folder, still there and empty; never part of an export
        if (before === 'an empty folder') {
          expect(statSync(dest).isDirectory()).toBe(true)
          expect(readdirSync(dest)).toEqual([])
        } else expect(existsSync(dest)).toBe(false)

        const next = await runBk(['roundup', 'export', home, dest], {env: SMALL_CHUNKS})
        expect(next.exitCode, next.stderr).toBe(0)
        expect(readdirSync(parent)).toEqual(['export'])
        expect(listFiles(dest)).toEqual(listFiles(clean))
        expect(treeDifferences(dest, clean)).toEqual([])
        expect(readdirSync(join(dest, 'msg-files')).sort()).toEqual(['0', '1', '2'])
      }, 90_000)
    }
  }
})
