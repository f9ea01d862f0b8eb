import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {createServer} from 'node:net'
import {basename, dirname, join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {repoRoot, tempDir} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {checkout, NAME} from './link-fixture.js'
import {moduleProbe, OCLIF_BUNDLE} from './module-probe.js'

/**
 * A new user's install, through a registry: every workspace package is packed (prepack builds it and regenerates its
 * manifest) and published to a private verdaccio on 127.0.0.1 (what it does not hold it proxies to the registry npm
 * is configured with), then @bkcli/cli is installed into a temp prefix and plugins are installed with
 * `bk plugins install`, as documented. No better-sqlite3 (nothing native) in the CLI or in zodb/aegir/iotstack.
 */

const root = repoRoot()
const PACKAGES = [
  'packages/core',
  ...['zodb', 'aegir', 'iotstack', 'trac', 'roundup'].map((p) => `packages/plugin-${p}`),
]
const NOT_A_PLUGIN = 'bk-test-not-a-plugin'

let work: string
let registry: string
let verdaccio: ChildProcess | undefined
let env: Record<string, string>
let bk: string
let marker: string
const figures: Record<string, string> = {}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

async function waitForRegistry(url: string): Promise<void> {
  const deadline = Date.now() + 60_000
  let last: unknown
  while (Date.now() < deadline) {
    if (verdaccio?.exitCode !== null && verdaccio?.exitCode !== undefined) break
    try {
      const response = await fetch(`${url}-/ping`)
      if (response.ok) return
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`verdaccio did not answer on ${url}: ${String(last)}`)
}

function kilobytes(dir: string): number {
  let total = 0
  const walk = (path: string) => {
    for (const entry of readdirSync(path, {withFileTypes: true})) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isFile()) total += statSync(full).size
    }
  }
  walk(dir)
  return total / 1024
}

/** Every path under `dir` (below node_modules) whose last part is `name`. */
function findNamed(dir: string, name: string): string[] {
  const found: string[] = []
  const walk = (path: string) => {
    for (const entry of readdirSync(path, {withFileTypes: true})) {
      const full = join(path, entry.name)
      if (entry.name === name) found.push(full)
      if (entry.isDirectory() && !entry.isSymbolicLink()) walk(full)
    }
  }
  if (existsSync(dir)) walk(dir)
  return found
}

interface Run {
  exitCode: number
  stdout: string
  stderr: string
}

/** Run a program to its end; `check` (default) turns a non-zero exit into an error carrying its stderr. */
function run(
  file: string,
  args: string[],
  options: {cwd?: string; env?: Record<string, string>; input?: Buffer; check?: boolean} = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {cwd: options.cwd, env: options.env ?? env ?? process.env})
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      const result = {
        exitCode: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }
      if (options.check !== false && result.exitCode !== 0) {
        reject(new Error(`${file} ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr.slice(-2000)}`))
      } else resolve(result)
    })
    child.stdin.end(options.input ?? '')
  })
}

const megabytes = (dir: string) => `${(kilobytes(dir) / 1024).toFixed(1)} MB`

function runBk(args: string[]) {
  return run(bk, args, {check: false})
}

/** `bk <args>` as oclif renders it, the start-up cache neither read nor written. */
function oclifRendering(args: string[]) {
  return run(bk, args, {check: false, env: {...env, BK_STARTUP_CACHE: 'off'}})
}

const cacheEntries = () => {
  const dir = join(work, 'cache', 'startup')
  return existsSync(dir) ? readdirSync(dir).length : 0
}

beforeAll(async () => {
  work = tempDir('bk-install-')
  const port = await freePort()
  registry = `http://127.0.0.1:${port}/`
  const upstream =
    (await run('npm', ['config', 'get', 'registry'], {env: process.env as Record<string, string>})).stdout.trim() ||
    'https://registry.npmjs.org/'
  const config = join(work, 'verdaccio.yaml')
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(join(work, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(join(work, 'htpasswd'))}`,
      '    max_users: 10',
      'uplinks:',
      '  npmjs:',
      `    url: ${JSON.stringify(upstream)}`,
      'packages:',
      // bk's own packages and the test package exist only here: never looked up upstream.
      "  '@bkcli/*':",
      '    access: $all',
      '    publish: $authenticated',
      `  '${NOT_A_PLUGIN}':`,
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    proxy: npmjs',
      'log: {type: stdout, format: pretty, level: warn}',
      '',
    ].join('\n'),
  )
  const pkgJson = createRequire(import.meta.url).resolve('verdaccio/package.json')
  const verdaccioBin = JSON.parse(readFileSync(pkgJson, 'utf8')).bin as string | Record<string, string>
  const bin = join(pkgJson, '..', typeof verdaccioBin === 'string' ? verdaccioBin : (verdaccioBin.verdaccio ?? ''))
  verdaccio = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  await waitForRegistry(registry)

  const user = await fetch(`${registry}-/user/org.couchdb.user:bk`, {
    method: 'PUT',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({name: 'bk', password: `bk-${process.pid}`, type: 'user'}),
  })
  const {token} = (await user.json()) as {token: string}
  const npmrc = join(work, 'npmrc')
  writeFileSync(npmrc, `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${token}\n`)
  env = {
    ...(process.env as Record<string, string>),
    NPM_CONFIG_USERCONFIG: npmrc,
    npm_config_registry: registry,
    npm_config_update_notifier: 'false',
    BK_NPM_REGISTRY: registry,
    BK_DATA_DIR: join(work, 'data'),
    BK_CONFIG_DIR: join(work, 'config'),
    BK_CACHE_DIR: join(work, 'cache'),
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  }
  delete env.NODE_OPTIONS
  delete env.NODE_ENV
  delete env.VITEST
  delete env.VITEST_WORKER_ID
  delete env.VITEST_POOL_ID

  // No stale manifest is planted in the workspace to prove prepack replaces it: other test files run the workspace
  // plugins at the same time. The packed manifests are checked instead (version and every command).
  const tarballs = join(work, 'tgz')
  mkdirSync(tarballs)
  for (const dir of [...PACKAGES, 'apps/bk']) {
    await run('pnpm', ['pack', '--pack-destination', tarballs], {cwd: join(root, dir)})
  }
  for (const file of readdirSync(tarballs).sort((a, b) => Number(!a.includes('core')) - Number(!b.includes('core')))) {
    await run('npm', ['publish', join(tarballs, file), '--registry', registry])
  }
  // A package that is not a bk plugin, whose install script would leave a marker.
  marker = join(work, 'postinstall-ran')
  const other = join(work, NOT_A_PLUGIN)
  mkdirSync(other)
  writeFileSync(
    join(other, 'package.json'),
    JSON.stringify({
      name: NOT_A_PLUGIN,
      version: '1.0.0',
      scripts: {postinstall: `node -e "require('fs').writeFileSync(${JSON.stringify(marker)}, '')"`},
    }),
  )
  await run('npm', ['publish', '--registry', registry], {cwd: other})

  const prefix = join(work, 'prefix')
  await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '@bkcli/cli'])
  bk = join(prefix, 'bin', 'bk')
  figures.cli = megabytes(prefix)
}, 600_000)

afterAll(() => {
  if (verdaccio && verdaccio.exitCode === null) verdaccio.kill('SIGTERM')
  if (Object.keys(figures).length) console.log(`installed sizes: ${JSON.stringify(figures)}`)
})

describe('install through a registry', {timeout: 600_000}, () => {
  it('packs every package with a manifest of its own version listing every command it ships', async () => {
    for (const dir of [...PACKAGES.filter((d) => d.includes('plugin-')), 'apps/bk']) {
      const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
      const meta = (await fetch(`${registry}${pkg.name.replace('/', '%2f')}`).then((r) => r.json())) as {
        versions: Record<string, {dist: {tarball: string}}>
      }
      const tarball = meta.versions[pkg.version]?.dist.tarball ?? ''
      const listing = await run('tar', ['-xzOf', '-', 'package/oclif.manifest.json'], {
        input: Buffer.from(await (await fetch(tarball)).arrayBuffer()),
      })
      const packed = JSON.parse(listing.stdout) as {version: string; commands: Record<string, unknown>}
      expect(packed.version, dir).toBe(pkg.version)
      const built = JSON.parse(readFileSync(join(root, dir, 'oclif.manifest.json'), 'utf8')) as typeof packed
      expect(Object.keys(packed.commands).sort(), dir).toEqual(Object.keys(built.commands).sort())
      expect(Object.keys(packed.commands).length, dir).toBeGreaterThan(0)
    }
  })

  it('packs @bkcli/core with @oclif/core bundled in it, the one copy the installed CLI runs on', async () => {
    const meta = (await fetch(`${registry}@bkcli%2fcore`).then((r) => r.json())) as {
      'dist-tags': {latest: string}
      versions: Record<string, {dist: {tarball: string}}>
    }
    const tarball = meta.versions[meta['dist-tags'].latest]?.dist.tarball ?? ''
    const listing = await run('tar', ['-tzf', '-'], {input: Buffer.from(await (await fetch(tarball)).arrayBuffer())})
    const packed = listing.stdout.split('\n')
    for (const name of ['index', 'execute', 'settings', 'config', 'help']) {
      expect(packed, name).toContain(`package/dist/vendor/oclif/${name}.js`)
      expect(packed, name).toContain(`package/dist/oclif/${name}.d.ts`)
    }
    // oclif as the installed CLI loads it: the bundle in its @bkcli/core, none of @oclif/core's own modules
    const probe = moduleProbe()
    const out = probe.out()
    const help = await run(bk, ['--help'], {
      check: false,
      env: {...env, BK_STARTUP_CACHE: 'off', NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out},
    })
    expect(help.exitCode, help.stderr).toBe(0)
    const files = probe.loaded(out)
    expect(files.filter((file) => OCLIF_BUNDLE.test(file)).map((file) => basename(file))).toEqual(
      expect.arrayContaining(['execute.js', 'settings.js', 'help.js']),
    )
    expect(
      files.filter((file) => /[\\/]@bkcli[\\/]core[\\/]dist[\\/]vendor[\\/]oclif[\\/]/.test(file)).length,
    ).toBeGreaterThan(0)
    expect(files.filter((file) => /[\\/]node_modules[\\/]@oclif[\\/]core[\\/]/.test(file))).toEqual([])
  })

  it('installs the CLI without compiling anything', async () => {
    const prefix = join(work, 'prefix')
    expect(findNamed(prefix, 'better-sqlite3')).toEqual([])
    expect(findNamed(prefix, 'binding.gyp')).toEqual([])
    const version = await runBk(['--version'])
    expect(version.exitCode).toBe(0)
    expect(version.stdout).toMatch(/^@bkcli\/cli\/0\.\d+\.\d+ /)
    expect(version.stderr).toBe('')
    // the start-up cache works from an npm install: recorded once, then replayed, both oclif's bytes
    const rendered = await oclifRendering(['--help'])
    expect(rendered.stdout).toContain('  zodb      not installed: bk plugins install zodb')
    const entries = cacheEntries() // --version above made one
    for (let i = 0; i < 2; i++) expect((await runBk(['--help'])).stdout).toBe(rendered.stdout)
    expect(cacheEntries()).toBe(entries + 1)
    const hint = await runBk(['zodb', 'backup', '/srv/zodb'])
    expect(hint.exitCode).toBe(127)
    expect(hint.stderr).toBe(
      "bk: 'zodb backup' is provided by plugin @bkcli/plugin-zodb, which is not installed. Run: bk plugins install zodb\n",
    )
  })

  it('refuses unknown names and packages that are not bk plugins before downloading them', async () => {
    const typo = await runBk(['plugins', 'install', 'tarc'])
    expect(typo.exitCode).toBe(2)
    expect(typo.stderr).toBe(
      'bk: no bk plugin named tarc; did you mean trac? (bk plugins: trac, roundup, zodb, aegir, iotstack)\n',
    )
    const other = await runBk(['plugins', 'install', NOT_A_PLUGIN])
    expect(other.exitCode).toBe(2)
    expect(other.stderr).toBe(
      `bk: ${NOT_A_PLUGIN} is not a bk plugin (no oclif commands built on @bkcli/core); nothing was installed (bk plugins: trac, roundup, zodb, aegir, iotstack)\n`,
    )
    expect(existsSync(marker)).toBe(false)
    expect(existsSync(join(work, 'data', 'node_modules', NOT_A_PLUGIN))).toBe(false)
  })

  it('bk plugins install zodb: no warning, no native module, the commands work', async () => {
    const install = await runBk(['plugins', 'install', 'zodb'])
    expect(install.exitCode, install.stderr).toBe(0)
    expect(install.stderr).not.toContain('Mismatched version')
    const data = join(work, 'data')
    figures.zodb = megabytes(data)
    expect(findNamed(join(data, 'node_modules'), 'better-sqlite3')).toEqual([])
    expect(findNamed(join(data, 'node_modules'), 'binding.gyp')).toEqual([])

    const help = await runBk(['zodb', '--help'])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain('zodb backup')
    expect(help.stderr).toBe('')
    const quiet = await runBk(['zodb', 'list', '--help', '--quiet'])
    expect(quiet.stderr).toBe('')
    const root = await runBk(['--help'])
    expect(root.stdout).toBe((await oclifRendering(['--help'])).stdout) // not the entry recorded before the install
    expect(root.stdout).toMatch(/^ {2}zodb {6}installed \(@bkcli\/plugin-zodb \d+\.\d+\.\d+\)$/m)
    expect(root.stdout).toContain('  trac      not installed: bk plugins install trac')
    expect(root.stderr).toBe('')

    // The plugin runs on the @oclif/core bundled in the @bkcli/core installed with it, bk on its own: an error still
    // ends as one line and its exit code (not with the other copy's 'Error: EEXIT: 2' under it, which oclif's handler
    // prints for an exit it cannot tell is one).
    const usage = await runBk(['zodb', 'list', '--bogus'])
    expect(usage.exitCode).toBe(2)
    expect(usage.stderr).toBe("bk: Nonexistent flag: --bogus See more help with --help (see 'bk zodb list --help')\n")

    // The core installed with zodb has no SQLite driver: asking for one is the one-line EDRIVER error.
    const core = pathToFileURL(join(data, 'node_modules/@bkcli/core/dist/index.js')).href
    const probe = await run(process.execPath, [
      '--input-type=module',
      '-e',
      `const c = await import(${JSON.stringify(core)}); await c.loadSqlite().catch((e) => console.log(e.code + ' ' + e.message))`,
    ])
    expect(probe.stdout).toBe(
      'EDRIVER the SQLite driver better-sqlite3 is not installed; install it (npm install better-sqlite3) or install the bk plugin that needs it\n',
    )
  })

  it('aegir and iotstack install without compiling anything either', async () => {
    const install = await runBk(['plugins', 'install', 'aegir', 'iotstack'])
    expect(install.exitCode, install.stderr).toBe(0)
    expect(install.stderr).not.toContain('Mismatched version')
    const data = join(work, 'data')
    figures['zodb+aegir+iotstack'] = megabytes(data)
    expect(findNamed(join(data, 'node_modules'), 'better-sqlite3')).toEqual([])
    expect(findNamed(join(data, 'node_modules'), 'binding.gyp')).toEqual([])
    for (const topic of ['aegir', 'iotstack']) {
      const help = await runBk([topic, '--help'])
      expect(help.exitCode).toBe(0)
      expect(help.stdout).toContain(`${topic} backup`)
      expect(help.stderr).toBe('')
    }
  })

  it('bk plugins link of a built checkout: its command runs with the start-up cache on and off; unlink removes it', async () => {
    // built on the @bkcli/core installed with the CLI, found through core's exports (its package.json)
    const cli = join(work, 'prefix', 'lib', 'node_modules', '@bkcli', 'cli', 'package.json')
    const plugin = checkout(true, dirname(createRequire(cli).resolve('@bkcli/core/package.json')))
    const link = await runBk(['plugins', 'link', '--no-install', plugin])
    expect(link.exitCode, link.stderr).toBe(0)
    for (const run of [runBk, oclifRendering, runBk]) {
      const hello = await run(['hello', 'world', '--name', 'bk'])
      expect(hello.stderr).toBe('')
      expect(hello.stdout).toBe('hello bk\n')
    }
    expect((await runBk(['plugins', 'unlink', NAME])).exitCode).toBe(0)
    const gone = await runBk(['hello', 'world'])
    expect(gone.exitCode).toBe(2)
    expect(gone.stderr).toBe("bk: command hello world not found; run 'bk --help' for the list\n")
  })

  it('bk plugins uninstall zodb brings the hint back', async () => {
    const uninstall = await runBk(['plugins', 'uninstall', 'zodb'])
    expect(uninstall.exitCode).toBe(0)
    const hint = await runBk(['zodb', 'backup'])
    expect(hint.exitCode).toBe(127)
    expect(hint.stderr).toContain("'zodb backup' is provided by plugin @bkcli/plugin-zodb")
    const root = await runBk(['--help'])
    expect(root.stdout).toBe((await oclifRendering(['--help'])).stdout)
    expect(root.stdout).toContain('  zodb      not installed: bk plugins install zodb')
    expect(root.stdout).toMatch(/^ {2}aegir {5}installed \(@bkcli\/plugin-aegir \d+\.\d+\.\d+\)$/m)
  })
})
