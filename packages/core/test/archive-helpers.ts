import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {Header} from 'tar'
import {afterAll, afterEach, expect} from 'vitest'
import {listArchive} from '../src/archive/index.js'
import type {PrependMember} from '../src/archive/types.js'
import {BkError} from '../src/errors.js'
import type {ManifestMeta} from '../src/manifest/types.js'

const made: string[] = []

/** path -> sha256 of every regular file under `dir` (what `tar -x` wrote). */
export function digestsOf(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const visit = (d: string) => {
    for (const name of readdirSync(d, {withFileTypes: true})) {
      const abs = join(d, name.name)
      if (name.isDirectory()) visit(abs)
      else if (name.isFile()) out.set(relative(dir, abs), createHash('sha256').update(readFileSync(abs)).digest('hex'))
    }
  }
  visit(dir)
  return out
}

/** A fresh temp dir, removed by cleanupTemp() (afterAll). */
export function temp(prefix = 'bk-core-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

export function cleanupTemp(): void {
  for (const dir of made.splice(0)) rmSync(dir, {recursive: true, force: true})
}

/** Registers a test file's hooks: PATH as it was after each test (onPath), the temp dirs removed after all (temp). */
export function useTempDirs(): void {
  afterEach(restorePath)
  afterAll(() => cleanupTemp())
}

/** The shared fixtures folder: ../shared/fixtures beside the repository (BK_FIXTURES overrides). */
export function fixture(...parts: string[]): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const base = process.env.BK_FIXTURES ?? resolve(here, '..', '..', '..', '..', 'shared', 'fixtures')
  return join(base, ...parts)
}

export const isRoot = process.getuid?.() === 0

/**
 * Everything about a tree that an archive or a copy must keep, one line per entry:
 * "<path> <type> <mode> <uid>:<gid> <mtime> <content digest | link target>". mtimes in whole seconds (tar's precision).
 */
export function snapshot(root: string, options: {owners?: boolean; mtimes?: boolean; skip?: string[]} = {}): string[] {
  const lines: string[] = []
  const visit = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name)
      const path = rel ? `${rel}/${name}` : name
      if (options.skip?.includes(path)) continue
      const st = lstatSync(abs)
      const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : '?'
      const owner = options.owners === false ? '' : ` ${st.uid}:${st.gid}`
      const mtime = options.mtimes === false || type === 'l' ? '' : ` ${Math.floor(st.mtimeMs / 1000)}`
      const content =
        type === 'f'
          ? createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16)
          : type === 'l'
            ? `-> ${readlinkSync(abs)}`
            : ''
      lines.push(`${path} ${type} ${(st.mode & 0o7777).toString(8)}${owner}${mtime} ${content}`.trimEnd())
      if (type === 'd') visit(abs, path)
    }
  }
  visit(root, '')
  return lines
}

export interface RawMember {
  path: string
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO'
  linkpath?: string
  content?: string
  mode?: number
}

/** A tar stream written header by header, so tests can build archives no honest tool would make. */
export function rawTar(members: RawMember[], options: {gzip?: boolean} = {}): Buffer {
  const blocks: Buffer[] = []
  for (const m of members) {
    const content = Buffer.from(m.content ?? '')
    const type = m.type ?? 'File'
    const header = new Header({
      path: m.path,
      type,
      linkpath: m.linkpath,
      mode: m.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: type === 'File' ? content.length : 0,
      mtime: new Date('2024-01-02T03:04:05Z'),
      uid: 0,
      gid: 0,
    })
    header.encode()
    blocks.push(header.block as Buffer)
    if (type === 'File' && content.length > 0) {
      blocks.push(content, Buffer.alloc((512 - (content.length % 512)) % 512))
    }
  }
  blocks.push(Buffer.alloc(1024))
  const tar = Buffer.concat(blocks)
  return options.gzip ? gzipSync(tar) : tar
}

/** Parse a `tar -tv` listing line: mode string, owner/group, size, path (no './'), link target. */
export function parseListing(
  text: string,
): {path: string; perms: string; owner: string; size: number; link?: string}[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const m = /^(\S+) (\S+)\/(\S+)\s+(\d+) \S+ \S+ (.*)$/.exec(line)
      if (!m) throw new Error(`bad listing line: ${line}`)
      const [, perms, user, group, size, rest] = m as unknown as string[]
      const [rawPath, link] = (rest as string).split(' -> ')
      const path = (rawPath as string).replace(/^\.\//, '').replace(/\/$/, '') || '.'
      return {path, perms: perms as string, owner: `${user}:${group}`, size: Number(size), link}
    })
}

/** `drwxr-sr-x` style permission string of a numeric mode and type. */
export function permString(type: string, mode: number): string {
  const t = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : type === 'hardlink' ? 'h' : '-'
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => ((mode >> (8 - i)) & 1 ? c : '-'))
  if (mode & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S'
  if (mode & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S'
  if (mode & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T'
  return t + bits.join('')
}

/** Names of everything directly in `dir` (to prove nothing was written there). */
export function names(dir: string): string[] {
  return readdirSync(dir).sort()
}

/** The BkError `p` rejects with (fails the test when it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<BkError> {
  try {
    await p
  } catch (error) {
    expect(error).toBeInstanceOf(BkError)
    return error as BkError
  }
  throw new Error('expected a BkError, got success')
}

/** The manifest meta of the archive tests' manifested archives. */
export const testMeta: ManifestMeta = {
  plugin: {name: '@bkcli/core', version: '0'},
  application: 'test',
  kind: 'full',
  created: '2026-01-01T00:00:00.000Z',
  source: 'src',
  components: [],
}

/**
 * The options of a Roundup-shaped archive (`file` still to add): the staged database `db` as 'database/db' in a
 * 0700 'database/', then the tree `cwd` under 'home/'.
 */
export function roundupShaped(cwd: string, db: string) {
  const prepend: PrependMember[] = [
    {name: 'database', directory: true, mode: 0o700},
    {name: 'database/db', source: db},
  ]
  return {cwd, prefix: 'home', prepend, meta: testMeta}
}

/** The member paths of an archive, in order. */
export async function listed(file: string): Promise<string[]> {
  const paths: string[] = []
  for await (const e of listArchive(file)) paths.push(e.path)
  return paths
}

/** A temp folder holding data/a.txt and data/sub/b.bin (70,000 bytes: past one 64 KiB read). */
export function smallTree(): string {
  const dir = temp()
  mkdirSync(join(dir, 'data', 'sub'), {recursive: true})
  writeFileSync(join(dir, 'data', 'a.txt'), 'first file\n')
  writeFileSync(join(dir, 'data', 'sub', 'b.bin'), Buffer.alloc(70_000, 7))
  return dir
}

/** The member names of a .tar.gz as GNU tar itself lists them, sorted. */
export function gnuTarNames(file: string): string[] {
  return execFileSync('tar', ['-tzf', file]).toString().trim().split('\n').sort()
}

/** Processes other than this one holding open a file whose path passes `test` (from /proc/<pid>/fd). */
export function holdersOf(test: (target: string) => boolean): number[] {
  const found: number[] = []
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(pid) === process.pid) continue
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {}
    for (const fd of fds) {
      try {
        if (test(readlinkSync(`/proc/${pid}/fd/${fd}`))) found.push(Number(pid))
      } catch {}
    }
  }
  return found
}

/** Processes other than this one holding a file under `dir` open. */
export const holdersUnder = (dir: string): number[] => holdersOf((target) => target.startsWith(`${dir}/`))

/** PATH as it was before any test put stand-ins on it. */
const basePath = process.env.PATH

/** Where `name` is on PATH (the real program, not a stand-in: looked up on the PATH a test started with). */
export function realProgram(name: string): string {
  return execFileSync('sh', ['-c', `command -v ${name}`], {
    encoding: 'utf8',
    env: {...process.env, PATH: basePath},
  }).trim()
}

/**
 * Writes sh stand-ins (`<root>/bin/<name>`, "$REAL" in each the real program of that name) and returns a PATH that
 * finds them first (for a child's env).
 */
export function standInPath(root: string, scripts: Record<string, string>): string {
  const bin = join(root, 'bin')
  mkdirSync(bin, {recursive: true})
  for (const [name, script] of Object.entries(scripts))
    writeFileSync(join(bin, name), `#!/bin/sh\nREAL=${realProgram(name)}\n${script}\n`, {mode: 0o755})
  return `${bin}:${basePath}`
}

/** Puts sh stand-ins on this process's PATH (see standInPath); restorePath() (afterEach) takes them off. */
export function onPath(root: string, scripts: Record<string, string>): void {
  process.env.PATH = standInPath(root, scripts)
}

export function restorePath(): void {
  process.env.PATH = basePath
}

/** A compressor's stand-in: the decompressor (-d/-t) runs as it is; compressing runs `script`. */
export const compressing = (script: string): string =>
  `for a in "$@"; do case "$a" in -t|-d) exec "$REAL" "$@";; esac; done\n${script}`

/** tar's stand-in: `tar --version` as it is (bk asks it, a script not being an ELF binary); creating runs `script`. */
export const creating = (script: string): string => `case "$1" in --version) exec "$REAL" "$@";; esac\n${script}`

/** A tmpfs of `size` at a new folder `small` of `dir`, or undefined where mounting is not permitted (umount it). */
export function smallDisk(dir: string, size: string): string | undefined {
  const small = join(dir, 'small')
  mkdirSync(small)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', small], {stdio: 'ignore'})
    return small
  } catch {
    console.log('skipped: mounting a tmpfs is not permitted here')
    return undefined
  }
}
