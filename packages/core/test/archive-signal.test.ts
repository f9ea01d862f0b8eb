import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createArchive} from '../src/archive/index.js'
import {cleanupTemp, compressing, standInPath, temp} from './archive-helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
let src = ''
let bigArchive = ''
/** A compressor that would hold its file open for a minute after its work, unless bk kills it (or it dies with bk). */
const lingering = compressing('"$REAL" "$@"\nexec sleep 60')

afterAll(cleanupTemp)
beforeAll(async () => {
  // incompressible, so compressing it takes long enough to be interrupted in the middle
  src = join(temp(), 'big')
  mkdirSync(src)
  for (let i = 0; i < 96; i++) writeFileSync(join(src, `chunk-${i}.bin`), randomBytes(1024 * 1024))
  bigArchive = join(temp(), 'big.tar')
  await createArchive({cwd: src, file: bigArchive})
})

/** Run archive-child.mjs, send `signal` once it has produced some output, wait for it to end. */
async function interrupt(args: string[], signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [join(here, 'archive-child.mjs'), ...args], {stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => {
    err += d
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
    child.on('exit', (code, sig) => resolve({code, signal: sig})),
  )
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('progress')) resolve()
    })
    child.on('exit', () => reject(new Error(`child ended before it was interrupted: ${out} ${err}`)))
  })
  child.kill(signal)
  const result = await exited
  return {...result, out, err}
}

/** Files below `dir` that a process still has open (removed ones too), from /proc. */
function openedBelow(dir: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
        if (target.startsWith(`${dir}/`)) found.push(`${pid}: ${target}`)
      } catch {}
    }
  }
  return found
}

describe('an interrupted archive leaves nothing that looks complete', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`createArchive killed by ${signal}`, async () => {
      const dir = temp()
      const file = join(dir, 'backup.tar.gz')
      const r = await interrupt(['create', src, file], signal)
      expect(r.out).not.toContain('done')
      expect(r.code === (signal === 'SIGTERM' ? 143 : 130) || r.signal === signal).toBe(true)
      expect(existsSync(file)).toBe(false)
      expect(readdirSync(dir)).toEqual([]) // the partial file is gone too
    })
  }

  it('createBkArchive killed by SIGTERM (body and final temp files)', async () => {
    const dir = temp()
    const file = join(dir, 'backup.tar.gz')
    const r = await interrupt(['create-bk', src, file], 'SIGTERM')
    expect(r.out).not.toContain('done')
    expect(readdirSync(dir)).toEqual([])
  })

  it('createArchiveWithManifest killed by SIGTERM (its compressor writing the file, its decompressor reading it)', async () => {
    const dir = temp()
    const file = join(dir, 'backup.tar.zst')
    const savedPath = process.env.PATH
    process.env.PATH = standInPath(temp(), {zstd: lingering})
    let r: Awaited<ReturnType<typeof interrupt>>
    try {
      r = await interrupt(['create-manifested', src, file], 'SIGTERM')
    } finally {
      process.env.PATH = savedPath
    }
    expect(r.out).not.toContain('done')
    expect(r.code === 143 || r.signal === 'SIGTERM').toBe(true)
    // no temp file, and no compressor left holding the removed one
    expect(readdirSync(dir)).toEqual([])
    for (let i = 0; i < 50 && openedBelow(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
    expect(openedBelow(dir)).toEqual([])
  })

  it('extractArchive killed by SIGTERM leaves no target and no stage', async () => {
    const dir = temp()
    const target = join(dir, 'restored')
    const r = await interrupt(['extract', bigArchive, target], 'SIGTERM')
    expect(r.out).not.toContain('done')
    expect(readdirSync(dir)).toEqual([])
  })
})

/** A PATH with `name` replaced by a shell script (`body` after the shebang; REAL is the real program's path). */
const pathWith = (name: string, body: string) => standInPath(temp(), {[name]: body})

describe('kill -9 of bk while it archives', () => {
  async function killed(path: string) {
    const dir = temp()
    const file = join(dir, 'backup.tar.zst')
    const savedPath = process.env.PATH
    process.env.PATH = path
    let r: Awaited<ReturnType<typeof interrupt>>
    try {
      r = await interrupt(['create', src, file], 'SIGKILL')
    } finally {
      process.env.PATH = savedPath
    }
    expect(r.signal).toBe('SIGKILL')
    return dir
  }

  it('leaves no tar or compressor writing the partial file, and the next run sweeps it', async () => {
    const dir = await killed(pathWith('zstd', lingering))
    for (let i = 0; i < 50 && openedBelow(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
    expect(openedBelow(dir)).toEqual([])
    // no cleanup ran: the partial file stays, the leftover of a dead process, for the next run to remove
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^\.backup\.tar\.zst\.bk-partial-\d+-/)])
    const {sweepLeftovers} = await import('../src/workflow/leftovers.js')
    expect(await sweepLeftovers(dir)).toHaveLength(1)
    expect(readdirSync(dir)).toEqual([])
  })

  it('without a setpriv that sets a parent-death signal, programs start plainly (and the archive is made)', async () => {
    const dir = temp()
    const file = join(dir, 'plain.tar.gz')
    const savedPath = process.env.PATH
    process.env.PATH = pathWith('setpriv', 'exit 1')
    try {
      const {createArchive: create} = await import('../src/archive/index.js')
      const made = await create({cwd: src, file})
      expect(made.entries).toBe(96)
      expect(execFileSync('tar', ['-tzf', file], {encoding: 'utf8'}).split('\n').filter(Boolean)).toHaveLength(96)
    } finally {
      process.env.PATH = savedPath
    }
  })
})
