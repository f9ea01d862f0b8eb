import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {execa} from 'execa'
import {describe, expect, it} from 'vitest'
import {journalPathFor, recoverCommit} from '../src/index.js'

const child = join(import.meta.dirname, 'commit-child.mjs')

/** Two parts (a folder and a file), old copies in place and new copies staged beside them. */
function scene(): {dir: string; a: string; b: string} {
  const dir = tempDir()
  const a = join(dir, 'env')
  const b = join(dir, 'trac.db')
  mkdirSync(a)
  writeFileSync(join(a, 'data'), 'old')
  writeFileSync(b, 'old')
  mkdirSync(`${a}.stage`)
  writeFileSync(join(`${a}.stage`, 'data'), 'new')
  writeFileSync(`${b}.stage`, 'new')
  return {dir, a, b}
}

const state = (s: {a: string; b: string}) => [readFileSync(join(s.a, 'data'), 'utf8'), readFileSync(s.b, 'utf8')]

describe('commitParts', () => {
  it('swaps every part in and leaves nothing behind', async () => {
    const s = scene()
    const run = await execa(process.execPath, [child, s.a, s.b])
    expect(run.exitCode).toBe(0)
    expect(state(s)).toEqual(['new', 'new'])
    expect(readdirSync(s.dir).sort()).toEqual(['env', 'trac.db'])
  })

  for (const point of ['commit:journal', 'commit:aside', 'commit:part', 'commit:drop-previous']) {
    it(`killed at ${point}: the next run finishes the commit (new, never a mix) and says so`, async () => {
      const s = scene()
      const run = await execa(process.execPath, [child, s.a, s.b], {env: {BK_CRASH_AT: point}, reject: false})
      expect(run.signal).toBe('SIGKILL')
      expect(existsSync(journalPathFor(s.a))).toBe(true)
      const lines = await recoverCommit(journalPathFor(s.a))
      expect(lines.join()).toMatch(/finished a restore interrupted at its commit/)
      expect(state(s)).toEqual(['new', 'new'])
      expect(readdirSync(s.dir).sort()).toEqual(['env', 'trac.db'])
    })
  }

  it('keeps the replaced copies where asked, and never overwrites a kept copy', async () => {
    const s = scene()
    await execa(process.execPath, [child, s.a, s.b, 'keep'])
    expect(readFileSync(join(`${s.a}.kept`, 'data'), 'utf8')).toBe('old')
    expect(readFileSync(`${s.b}.kept`, 'utf8')).toBe('old')
    mkdirSync(`${s.a}.stage`)
    writeFileSync(`${s.b}.stage`, 'newer')
    const again = await execa(process.execPath, [child, s.a, s.b, 'keep'], {reject: false})
    expect(again.exitCode).not.toBe(0)
    expect(again.stderr).toMatch(/kept.* already exists and is never overwritten/)
    expect(readFileSync(`${s.b}.kept`, 'utf8')).toBe('old')
    expect(readFileSync(s.b, 'utf8')).toBe('new')
  })

  it('a part staged as null is removed (moved aside, kept when asked); a kill at its aside is rolled forward', async () => {
    const {commitParts} = await import('../src/index.js')
    const s = scene()
    const extra = join(s.dir, 'override.yml')
    writeFileSync(extra, 'old')
    await commitParts(
      [
        {stage: `${s.a}.stage`, target: s.a},
        {stage: null, target: extra},
      ],
      {journal: journalPathFor(s.a), keepAs: (p) => `${p.target}.kept`},
    )
    expect(readFileSync(join(s.a, 'data'), 'utf8')).toBe('new')
    expect(existsSync(extra)).toBe(false)
    expect(readFileSync(`${extra}.kept`, 'utf8')).toBe('old')
    expect(existsSync(journalPathFor(s.a))).toBe(false)
  })

  it('BK_CRASH_AT=<point>#N kills at the N-th pass: after the first part, before the second', async () => {
    const s = scene()
    const run = await execa(process.execPath, [child, s.a, s.b], {env: {BK_CRASH_AT: 'commit:part#1'}, reject: false})
    expect(run.signal).toBe('SIGKILL')
    expect(state(s)).toEqual(['new', 'old']) // the mix the journal exists for
    expect((await recoverCommit(journalPathFor(s.a), 'backup')).join()).toMatch(/finished a backup interrupted/)
    expect(state(s)).toEqual(['new', 'new'])
  })

  it('with no journal, recovery does nothing', async () => {
    const s = scene()
    expect(await recoverCommit(journalPathFor(s.a))).toEqual([])
    expect(state(s)).toEqual(['old', 'old'])
  })
})

describe('sweepLeftovers', () => {
  it("removes one target's stages, extract folders and partial files, and says so", async () => {
    const {sweepLeftovers} = await import('../src/index.js')
    const dir = tempDir()
    mkdirSync(join(dir, '.env.bk-extract-abc'))
    writeFileSync(join(dir, '.env.bk-extract-abc', 'f'), 'x'.repeat(10))
    mkdirSync(join(dir, '.env.bk-restore-123'))
    writeFileSync(join(dir, '.other.bk-partial-1-x'), '')
    writeFileSync(join(dir, 'env'), '')
    const lines = await sweepLeftovers(dir, 'env')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/removed .*\.env\.bk-extract-abc, left by an interrupted run \(10 B\)/)
    expect(readdirSync(dir).sort()).toEqual(['.other.bk-partial-1-x', 'env'])
    expect(await sweepLeftovers(dir)).toHaveLength(1)
    expect(readdirSync(dir)).toEqual(['env'])
  })
})
