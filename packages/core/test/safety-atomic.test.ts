import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {atomicDir, atomicFile} from '../src/safety/index.js'
import {deadPid, startChild} from './safety-util.js'

describe('atomicFile', () => {
  it('writes through a temp file beside dest and leaves only dest', async () => {
    const dir = tempDir()
    const dest = join(dir, 'backup.tar.gz')
    let tmpSeen = ''
    const result = await atomicFile(dest, async (tmp) => {
      tmpSeen = tmp
      expect(tmp.startsWith(join(dir, '.backup.tar.gz.bk-partial-'))).toBe(true)
      await writeFile(tmp, 'payload')
      expect(existsSync(dest)).toBe(false)
      return 42
    })
    expect(result).toBe(42)
    expect(readFileSync(dest, 'utf8')).toBe('payload')
    expect(existsSync(tmpSeen)).toBe(false)
    expect(readdirSync(dir)).toEqual(['backup.tar.gz'])
  })

  it('creates the file with the given mode from the start (0600 for secrets)', async () => {
    const dest = join(tempDir(), 'dump.sql')
    await atomicFile(
      dest,
      async (tmp) => {
        expect(statSync(tmp).mode & 0o777).toBe(0o600)
        await writeFile(tmp, 'secret')
      },
      {mode: 0o600},
    )
    expect(statSync(dest).mode & 0o777).toBe(0o600)
  })

  it('refuses to replace an existing file unless overwrite is set', async () => {
    const dir = tempDir()
    const dest = join(dir, 'a')
    writeFileSync(dest, 'old')
    const error = await atomicFile(dest, async (tmp) => writeFile(tmp, 'new')).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toMatch(/already exists/)
    expect(readFileSync(dest, 'utf8')).toBe('old')
    await atomicFile(dest, async (tmp) => writeFile(tmp, 'new'), {overwrite: true})
    expect(readFileSync(dest, 'utf8')).toBe('new')
    expect(readdirSync(dir)).toEqual(['a'])
  })

  it('a dest created by someone else while writing is not replaced', async () => {
    const dir = tempDir()
    const dest = join(dir, 'a')
    await expect(
      atomicFile(dest, async (tmp) => {
        await writeFile(tmp, 'mine')
        writeFileSync(dest, 'theirs')
      }),
    ).rejects.toThrow(/already exists/)
    expect(readFileSync(dest, 'utf8')).toBe('theirs')
    expect(readdirSync(dir)).toEqual(['a'])
  })

  it('removes the temp file and leaves no dest when the writer throws', async () => {
    const dir = tempDir()
    await expect(
      atomicFile(join(dir, 'x.tar'), async (tmp) => {
        await writeFile(tmp, 'half')
        throw new Error('disk full')
      }),
    ).rejects.toThrow('disk full')
    expect(readdirSync(dir)).toEqual([])
  })

  it('a missing folder is a BkError saying so', async () => {
    const dir = tempDir()
    await expect(atomicFile(join(dir, 'no', 'x'), async (tmp) => writeFile(tmp, 'x'))).rejects.toThrow(
      /the folder .*no does not exist/,
    )
    await expect(atomicDir(join(dir, 'no', 'x'), async () => {})).rejects.toThrow(BkError)
  })

  it('a writer that writes nothing is an error, not an empty artifact', async () => {
    const dir = tempDir()
    await expect(atomicFile(join(dir, 'x'), async () => {})).rejects.toThrow(/nothing was written/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('a process killed by SIGTERM mid-write leaves neither dest nor temp, and exits 143', async () => {
    const dir = tempDir()
    const dest = join(dir, 'backup_2026-01-01_0200.tar.gz')
    const child = startChild(['atomic-file', dest])
    const line = await child.waitFor('writing ')
    const tmp = line.slice('writing '.length)
    expect(existsSync(tmp)).toBe(true)
    child.proc.kill('SIGTERM')
    expect((await child.exited).code).toBe(143)
    expect(readdirSync(dir)).toEqual([])
  })

  it('SIGINT does the same and exits 130', async () => {
    const dir = tempDir()
    const child = startChild(['atomic-file', join(dir, 'f')])
    await child.waitFor('writing ')
    child.proc.kill('SIGINT')
    expect((await child.exited).code).toBe(130)
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('atomicDir', () => {
  it('flushes the finished stage with the flush it is given, before the rename; a failing flush publishes nothing', async () => {
    const dir = tempDir()
    const dest = join(dir, 'hotcopy')
    const seen: {stage: string; files: string[]; destExists: boolean}[] = []
    await atomicDir(dest, async (stage) => writeFile(join(stage, 'a.txt'), 'a'), {
      flush: async (stage) => {
        seen.push({stage, files: readdirSync(stage), destExists: existsSync(dest)})
      },
    })
    expect(seen).toEqual([
      {stage: join(dir, `.hotcopy.bk-partial-${process.pid}`), files: ['a.txt'], destExists: false},
    ])
    expect(readFileSync(join(dest, 'a.txt'), 'utf8')).toBe('a')
    const other = join(dir, 'other')
    await expect(
      atomicDir(other, async (stage) => writeFile(join(stage, 'b.txt'), 'b'), {
        flush: async () => {
          throw new BkError('flushing failed')
        },
      }),
    ).rejects.toThrow('flushing failed')
    expect(readdirSync(dir)).toEqual(['hotcopy'])
  })

  it('builds in a hidden stage and renames it to dest', async () => {
    const dir = tempDir()
    const dest = join(dir, 'hotcopy')
    await atomicDir(dest, async (stage) => {
      expect(stage).toBe(join(dir, `.hotcopy.bk-partial-${process.pid}`))
      mkdirSync(join(stage, 'db'))
      writeFileSync(join(stage, 'db', 'trac.db'), 'db')
    })
    expect(readFileSync(join(dest, 'db', 'trac.db'), 'utf8')).toBe('db')
    expect(readdirSync(dir)).toEqual(['hotcopy'])
  })

  it('removes the stage on failure and refuses an existing dest', async () => {
    const dir = tempDir()
    await expect(
      atomicDir(join(dir, 'x'), async (stage) => {
        writeFileSync(join(stage, 'a'), 'a')
        throw new Error('copy failed')
      }),
    ).rejects.toThrow('copy failed')
    expect(readdirSync(dir)).toEqual([])
    mkdirSync(join(dir, 'x'))
    await expect(atomicDir(join(dir, 'x'), async () => {})).rejects.toThrow(/already exists/)
  })

  it('replaceEmpty: an existing empty folder stays until the finished stage replaces it; a full one is refused', async () => {
    const dir = tempDir()
    const dest = join(dir, 'out')
    mkdirSync(dest)
    // without the option an existing folder, empty or not, is refused
    await expect(atomicDir(dest, async () => {})).rejects.toThrow(/already exists/)
    const seen = await atomicDir(
      dest,
      async (stage) => {
        // while building, dest is the empty folder as it was
        expect(readdirSync(dest)).toEqual([])
        await writeFile(join(stage, 'a'), 'A')
        return readdirSync(dir).filter((n) => n.includes('bk-partial')).length
      },
      {replaceEmpty: true},
    )
    expect(seen).toBe(1)
    expect(readFileSync(join(dest, 'a'), 'utf8')).toBe('A')
    expect(readdirSync(dir)).toEqual(['out'])
    // not empty at the start: refused before anything is built
    let built = false
    await expect(
      atomicDir(
        dest,
        async () => {
          built = true
        },
        {replaceEmpty: true},
      ),
    ).rejects.toThrow(/already exists/)
    expect(built).toBe(false)
    // emptied again, then written into by someone else while building: refused at the rename, theirs kept
    const other = join(dir, 'other')
    mkdirSync(other)
    const failure = await atomicDir(
      other,
      async (stage) => {
        writeFileSync(join(other, 'theirs'), 'T')
        await writeFile(join(stage, 'ours'), 'O')
      },
      {replaceEmpty: true},
    ).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(BkError)
    expect(String((failure as Error).message)).toBe(
      `${other} is no longer an empty folder; nothing was put there (run again into an empty one)`,
    )
    expect(readdirSync(other)).toEqual(['theirs'])
    expect(readdirSync(dir).sort()).toEqual(['other', 'out'])
  })

  it('removes stages left by dead processes first', async () => {
    const dir = tempDir()
    const stale = join(dir, `.x.bk-partial-${await deadPid()}`)
    mkdirSync(stale)
    writeFileSync(join(stale, 'half'), 'h')
    await atomicDir(join(dir, 'x'), async (stage) => writeFileSync(join(stage, 'a'), 'a'))
    expect(readdirSync(dir)).toEqual(['x'])
  })

  it('a process killed by SIGTERM while building leaves nothing', async () => {
    const dir = tempDir()
    const child = startChild(['atomic-dir', join(dir, 'copy')])
    await child.waitFor('building ')
    child.proc.kill('SIGTERM')
    expect((await child.exited).code).toBe(143)
    expect(readdirSync(dir)).toEqual([])
  })
})
