// The start-up cache: `bk`, `bk --help`, `bk --version`, `bk <topic> [<command>] --help` and `bk help [<words>]`
// print text that depends only on the installed plugins' package.json and oclif.manifest.json (and bk's own help
// class and init hook). Loading oclif to render it costs about three bare Node start-ups; replaying the bytes oclif
// wrote last time, after checking that every file they came from is unchanged, costs almost nothing.
//
// Only node: builtins here: bin/run.js imports this module before oclif, on every start.
import {createHash} from 'node:crypto'
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {createRequire} from 'node:module'
import {homedir} from 'node:os'
import {dirname, join} from 'node:path'

/** Bump when the entry format or what goes into the key changes. */
const FORMAT = 1
/** More entries than this (terminal widths, env variations): the folder is emptied and refilled. */
const MAX_ENTRIES = 200
/** A topic or command word (oclif ids may be typed with colons). */
const WORD = /^[a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*)*$/
/** Hooks that run on the help and version paths: a plugin other than bk that has one makes the output its own. */
const RUN_HOOKS = ['init', 'prerun', 'postrun', 'finally', 'preparse']

/** What oclif's help and version rendering can read from the environment (names or prefixes ending in _). */
const ENV_PREFIXES = ['BK_', 'OCLIF_', 'XDG_', 'NODE_']
const ENV_NAMES = [
  ...['HOME', 'USERPROFILE', 'LOCALAPPDATA'],
  // what oclif's colour detection (ansis, supports-color) reads: bold headings on a terminal, or in CI
  ...['NO_COLOR', 'FORCE_COLOR', 'TERM', 'COLORTERM', 'TERM_PROGRAM', 'TERM_PROGRAM_VERSION', 'NEXT_RUNTIME'],
  ...['CI', 'CI_NAME', 'GITHUB_ACTIONS', 'GITLAB_CI', 'TEAMCITY_VERSION', 'TF_BUILD', 'BUILDKITE', 'CIRCLECI'],
  ...['TRAVIS', 'APPVEYOR', 'DRONE'],
]
/** Never a secret in the key, not even hashed (BK_DB_PASSWORD, NODE_AUTH_TOKEN, a URL with a password): none of
 * them changes help or version text. */
const SECRET = /PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|URL/i

/** The minimal view of oclif's Config this module needs (what the init hook hands over). */
export interface StartupConfig {
  root: string
  dataDir: string
  configDir: string
  theme?: unknown
  commands: ReadonlyArray<{hasDynamicHelp?: boolean}>
  getPluginsList(): Array<{
    root: string
    isRoot: boolean
    type: string
    hasManifest: boolean
    hooks: Record<string, unknown[]>
  }>
}

let noted: StartupConfig | undefined

/** Called by bk's init hook: the loaded config, which says which files the output came from. */
export function noteConfig(config: StartupConfig): void {
  noted = config
}

/** Argument lists whose output is a pure function of the installed manifests (never one that runs a command). */
export function isCacheable(argv: readonly string[]): boolean {
  if (argv.length === 0) return true
  if (argv.length === 1 && argv[0] === '--version') return true
  const words = argv.filter((arg) => arg !== '--help')
  if (words.length > 4 || !words.every((word) => WORD.test(word))) return false
  return words.length < argv.length || words[0] === 'help'
}

function enabled(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  // DEBUG: oclif's debug lines go to stderr, which a replay would not write.
  return env.BK_STARTUP_CACHE !== 'off' && !env.DEBUG && isCacheable(argv)
}

/** oclif's cacheDir for bin bk (BK_CACHE_DIR, macOS Caches, XDG_CACHE_HOME, LOCALAPPDATA, ~/.cache). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BK_CACHE_DIR) return env.BK_CACHE_DIR
  const home = env.HOME || env.USERPROFILE || homedir()
  if (process.platform === 'darwin') return join(home, 'Library', 'Caches', 'bk')
  const base = env.XDG_CACHE_HOME || (process.platform === 'win32' && env.LOCALAPPDATA) || join(home, '.cache')
  return join(base, 'bk')
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** The environment variables that go into an entry's key: what oclif may read, never a secret. */
export function keyVars(env: NodeJS.ProcessEnv): Array<[string, string | undefined]> {
  return Object.keys(env)
    .filter((name) => ENV_NAMES.includes(name) || ENV_PREFIXES.some((prefix) => name.startsWith(prefix)))
    .filter((name) => !SECRET.test(name))
    .sort()
    .map((name) => [name, env[name]])
}

/** The file of the entry whose key is `key`, in `folder` of the cache folder. */
export function entryFile(key: unknown[], env: NodeJS.ProcessEnv, folder = 'startup'): string {
  return join(cacheDir(env), folder, `${sha256(JSON.stringify(key))}.json`)
}

/** The entry's file: one per bk install, argument list, Node, platform, terminal and relevant environment. */
function entryPath(argv: readonly string[], runJs: string, env: NodeJS.ProcessEnv): string {
  const out = process.stdout
  const terminal = out.isTTY ? out.columns : 'not a tty'
  return entryFile([FORMAT, runJs, argv, process.version, process.platform, process.arch, terminal, keyVars(env)], env)
}

/** A file's sha256, null when it does not exist (a file that appears later changes the fingerprint too). */
export function digest(file: string): string | null {
  // stat first: an absent file costs no thrown error (a stack trace each)
  return statSync(file, {throwIfNoEntry: false}) ? sha256(readFileSync(file)) : null
}

interface Entry {
  format: number
  files: Array<[string, string | null]>
  stdout: string
}

/**
 * Prints the recorded output of `argv` and returns true when an entry exists and every file it was rendered from
 * is byte for byte what it was; returns false (print nothing) otherwise, and oclif runs.
 */
export function replay(argv: readonly string[], runJs: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!enabled(argv, env)) return false
  try {
    const entry = JSON.parse(readTrusted(entryPath(argv, runJs, env))) as Entry
    if (entry.format !== FORMAT || !Array.isArray(entry.files) || entry.files.length === 0) return false
    for (const [file, sum] of entry.files) if (digest(file) !== sum) return false
    // as oclif does (its Command module): a reader that closed early (`bk --help | head -1`) is no error
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error
    })
    process.stdout.write(Buffer.from(entry.stdout, 'base64'))
    return true
  } catch {
    return false
  }
}

/**
 * The entry's text, but only from a file of this user (or root) that no one else may write: the entry itself lists
 * the files it is checked against, so one written by another user (a shared or group-writable BK_CACHE_DIR, `sudo`
 * keeping the caller's HOME) could make bk print anything, terminal escape sequences included.
 */
export function readTrusted(file: string): string {
  const fd = openSync(file, 'r')
  try {
    const {uid, mode} = fstatSync(fd)
    const me = process.getuid?.()
    if (me !== undefined && ((uid !== me && uid !== 0) || (mode & 0o022) !== 0)) throw new Error('untrusted entry')
    return readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
}

type Write = typeof process.stdout.write

/**
 * Tees what oclif writes to stdout for a cacheable `argv` and stores it when the process exits, unless anything went
 * to stderr, the exit code is not 0, or the output may depend on something the fingerprint does not cover (a plugin
 * without a manifest, a linked plugin, another plugin's hooks, a theme, dynamic help). Saving at exit, not when
 * oclif's execute() returns, leaves out nothing written later.
 */
export function startRecording(argv: readonly string[], runJs: string, env: NodeJS.ProcessEnv = process.env): void {
  if (!enabled(argv, env)) return
  const file = entryPath(argv, runJs, env) // the environment as replay() sees it, before run.js adds to it
  const chunks: Buffer[] = []
  let quiet = true
  const stdoutWrite = process.stdout.write
  const stderrWrite = process.stderr.write
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, encoding?: unknown, ...rest: unknown[]) {
    chunks.push(
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array),
    )
    return (stdoutWrite as (...args: unknown[]) => boolean).call(this, chunk, encoding, ...rest)
  } as Write
  process.stderr.write = function (this: NodeJS.WriteStream, ...args: unknown[]) {
    quiet = false
    return (stderrWrite as (...a: unknown[]) => boolean).apply(this, args)
  } as Write
  process.once('exit', (code) => {
    const config = noted
    if (!quiet || code !== 0 || !config) return
    try {
      const files = fingerprint(config, runJs)
      if (!files) return
      const entry: Entry = {format: FORMAT, files, stdout: Buffer.concat(chunks).toString('base64')}
      writeEntry(file, JSON.stringify(entry))
    } catch {
      // the fingerprint could not be taken: nothing is recorded
    }
  })
}

/**
 * Writes an entry atomically, readable and replaceable by this user only. A read-only or full cache folder leaves
 * no partial file (the next start renders with oclif again).
 */
export function writeEntry(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`
  try {
    const dir = dirname(file)
    mkdirSync(dir, {recursive: true, mode: 0o700})
    if (readdirSync(dir).length > MAX_ENTRIES) rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true, mode: 0o700})
    // 'wx' never follows a link planted at the temporary name
    rmSync(temp, {force: true})
    writeFileSync(temp, text, {mode: 0o600, flag: 'wx'})
    renameSync(temp, file)
  } catch {
    try {
      rmSync(temp, {force: true})
    } catch {}
  }
}

/**
 * The entry file of the oclif that bk runs: `@bkcli/core/oclif` as Node resolves it from run.js, read from core's
 * own exports map (core exports its package.json for this; its other subpaths have only an import condition, which
 * require.resolve cannot follow). The same in the workspace and in an install from a registry.
 */
export function oclifBundleEntry(require: NodeJS.Require): string {
  const pkgFile = require.resolve('@bkcli/core/package.json')
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {exports: Record<string, {import?: string}>}
  const entry = pkg.exports['./oclif']?.import
  if (!entry) throw new Error('@bkcli/core exports no ./oclif')
  return join(dirname(pkgFile), entry)
}

/** Every file the recorded output was rendered from, with its sha256; undefined when that set is not known. */
function fingerprint(config: StartupConfig, runJs: string): Array<[string, string | null]> | undefined {
  // a theme colours the output by terminal; dynamic help imports the command module to render it
  if (config.theme !== undefined || config.commands.some((command) => command.hasDynamicHelp)) return undefined
  return sourceFiles(config, runJs)?.map((file) => [file, digest(file)])
}

/**
 * The files that decide which plugins, commands and hooks oclif loads (bk's run.js and its own code but the commands,
 * oclif's version, the plugin list, every plugin's package.json and manifest, the theme); undefined when they do not
 * decide it alone: a plugin without a manifest (its commands are found by listing its folder), a linked plugin, or a
 * plugin other than bk with hooks that run on every start.
 */
export function sourceFiles(config: StartupConfig, runJs: string): string[] | undefined {
  const files = [runJs, join(config.dataDir, 'package.json'), join(config.configDir, 'theme.json')]
  // oclif as bk runs it (@bkcli/core's one-file build of it, whose entry names its version) and as oclif's own plugins
  // (help, plugins) import it
  const require = createRequire(runJs)
  files.push(require.resolve('@oclif/core/package.json'))
  files.push(oclifBundleEntry(require))
  for (const plugin of config.getPluginsList()) {
    if (!plugin.hasManifest || plugin.type === 'link') return undefined
    if (!plugin.isRoot && RUN_HOOKS.some((event) => (plugin.hooks[event]?.length ?? 0) > 0)) return undefined
    // oclif reads .oclif.manifest.json only when there is no oclif.manifest.json (whose appearing changes its digest)
    const manifest = join(plugin.root, 'oclif.manifest.json')
    files.push(join(plugin.root, 'package.json'), manifest)
    if (!existsSync(manifest)) files.push(join(plugin.root, '.oclif.manifest.json'))
  }
  // bk's own code on these paths: the help class, the hooks and what they import (dist/ but the commands).
  const dist = join(config.root, 'dist')
  for (const name of readdirSync(dist, {recursive: true, encoding: 'utf8'}).sort()) {
    if (name.endsWith('.js') && !name.startsWith(`commands`)) files.push(join(dist, name))
  }
  return files
}
