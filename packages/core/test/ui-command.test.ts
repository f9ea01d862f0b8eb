import {chmodSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Args, Flags} from '@bkcli/core/oclif'
import {tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {BkCommand} from '../src/command/base.js'
import {BkError} from '../src/errors.js'

// The real bk CLI's config, so that messages name 'bk' as users see it.
const root = fileURLToPath(new URL('../../../apps/bk', import.meta.url))

class Demo extends BkCommand<typeof Demo> {
  static override id = 'demo:run'
  static override args = {source: Args.string({required: true})}
  static override flags = {
    keep: Flags.integer({description: 'how many', aliases: ['keep_count']}),
    label: Flags.string({}),
    gzip: Flags.boolean({allowNo: true}),
  }
  async run() {
    if (this.args.source === 'fail') throw new BkError('the source is gone; check the path', {exit: 3})
    if (this.args.source === 'bug') throw new Error('undefined is not a function\n    at somewhere')
    if (this.args.source === 'confirm') await this.confirmOrAbort('Replace it?', 'replace the live data')
    return this.report(
      {
        source: this.args.source,
        keep: this.flags.keep,
        label: this.flags.label,
        gzip: this.flags.gzip,
        url: 'postgres://trac:s3cret@db/trac',
        password: 's3cret',
      },
      (r) => `done ${r.source} keep=${r.keep} label=${r.label} gzip=${r.gzip} ${r.url}`,
    )
  }
}

function capture() {
  let stdout = ''
  let stderr = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk)
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk)
    return true
  })
  return {
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
  }
}

async function run(argv: string[]): Promise<number> {
  try {
    await Demo.run(argv, root)
    return 0
  } catch (error) {
    const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
    if (exit === undefined) throw error
    return exit
  }
}

afterEach(() => vi.restoreAllMocks())

describe('BkCommand', () => {
  it('renders human text and redacts URL passwords', async () => {
    const out = capture()
    expect(await run(['src'])).toBe(0)
    expect(out.stdout).toContain('done src keep=undefined')
    expect(out.stdout).toContain('postgres://trac:***@db/trac')
    expect(out.stdout).not.toContain('s3cret')
  })

  it('prints exactly one JSON document with --json, secrets masked', async () => {
    const out = capture()
    expect(await run(['src', '--json', '--keep', '3'])).toBe(0)
    const doc = JSON.parse(out.stdout)
    expect(doc).toMatchObject({source: 'src', keep: 3, password: '***', url: 'postgres://trac:***@db/trac'})
    expect(out.stdout).not.toContain('s3cret')
  })

  it('prints nothing with --quiet', async () => {
    const out = capture()
    expect(await run(['src', '-q'])).toBe(0)
    expect(out.stdout).toBe('')
  })

  it('renders a BkError as one line with its exit code', async () => {
    const out = capture()
    expect(await run(['fail'])).toBe(3)
    expect(out.stderr).toBe('bk: the source is gone; check the path\n')
  })

  it('renders an unexpected error as one line, with the stack only under --verbose', async () => {
    const out = capture()
    expect(await run(['bug'])).toBe(1)
    expect(out.stderr.trim().split('\n')).toHaveLength(1)
    expect(out.stderr).toContain('undefined is not a function (run with --verbose for details)')
    const verbose = capture()
    expect(await run(['bug', '--verbose'])).toBe(1)
    expect(verbose.stderr).toContain('at ')
  })

  it('turns usage errors into one line with exit 2', async () => {
    const out = capture()
    expect(await run(['src', '--keep', 'many'])).toBe(2)
    expect(out.stderr.trim().split('\n')).toHaveLength(1)
    expect(out.stderr).toMatch(/^bk: .*integer.*--help/)
  })

  it('refuses a confirmation without a terminal unless --yes', async () => {
    const out = capture()
    const isTTY = process.stdin.isTTY
    Object.defineProperty(process.stdin, 'isTTY', {value: false, configurable: true})
    try {
      expect(await run(['confirm'])).toBe(1)
      expect(out.stderr).toContain('refusing to replace the live data without --yes')
      expect(await run(['confirm', '--no-prompt'])).toBe(0)
      expect(await run(['confirm', '-y'])).toBe(0)
    } finally {
      Object.defineProperty(process.stdin, 'isTTY', {value: isTTY, configurable: true})
    }
  })

  describe('config file', () => {
    it('applies the plugin section and core section, flags win', async () => {
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'core:\n  label: from-core\ndemo:\n  keep: 7\n  gzip: false\n')
      const out = capture()
      expect(await run(['src', '--config', file, '--json'])).toBe(0)
      expect(JSON.parse(out.stdout)).toMatchObject({keep: 7, label: 'from-core', gzip: false})
      const out2 = capture()
      expect(await run(['src', '--config', file, '--json', '--keep', '2'])).toBe(0)
      expect(JSON.parse(out2.stdout)).toMatchObject({keep: 2})
    })

    it("takes a flag's aliases as keys and booleans as words; two keys for one flag are an error", async () => {
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'demo:\n  keep_count: 5\n  gzip: "off"\n')
      const out = capture()
      expect(await run(['src', '--config', file, '--json'])).toBe(0)
      expect(JSON.parse(out.stdout)).toMatchObject({keep: 5, gzip: false})
      writeFileSync(file, 'demo:\n  keep_count: 5\n  keep: 6\n')
      const out2 = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out2.stderr).toContain("'demo.keep_count' and 'demo.keep' set the same option; keep one")
      writeFileSync(file, 'demo:\n  gzip: maybe\n')
      const out3 = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out3.stderr).toContain('demo.gzip must be true or false')
    })

    it('reads --flag=false of a boolean flag as --no-flag (oclif would take false for an argument)', async () => {
      const out = capture()
      expect(await run(['src', '--gzip=false', '--json'])).toBe(0)
      expect(JSON.parse(out.stdout)).toMatchObject({source: 'src', gzip: false})
      const out2 = capture()
      expect(await run(['--gzip=yes', 'src', '--json'])).toBe(0)
      expect(JSON.parse(out2.stdout)).toMatchObject({source: 'src', gzip: true})
      const out3 = capture()
      expect(await run(['src', '--gzip=sometimes'])).toBe(2)
      expect(out3.stderr).toContain("--gzip takes true or false, not 'sometimes'")
    })

    it('names an unknown key', async () => {
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'demo:\n  kep: 7\n')
      const out = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out.stderr).toMatch(/bk\.yml: unknown key 'demo\.kep' \(known: .*keep/)
    })

    it('names a key with a bad value', async () => {
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'demo:\n  keep: lots\n')
      const out = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out.stderr).toContain('bk.yml')
      expect(out.stderr).toMatch(/integer/)
      writeFileSync(file, 'demo:\n  gzip: "often"\n')
      const out2 = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out2.stderr).toContain('demo.gzip must be true or false')
    })

    it('warns when a config file holding a password can be read by other users (not under --quiet)', async () => {
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'demo:\n  db-password: s3cret\n  keep: 1\n', {mode: 0o644})
      chmodSync(file, 0o644)
      const out = capture()
      expect(await run(['src', '--config', file])).toBe(0)
      expect(out.stderr).toBe(
        `bk: warning: ${file} holds a password (db-password) and other users may read it; run: chmod 600 ${file}\n`,
      )
      const quiet = capture()
      expect(await run(['src', '--config', file, '--quiet'])).toBe(0)
      expect(quiet.stderr).toBe('')
      chmodSync(file, 0o600)
      const out2 = capture()
      expect(await run(['src', '--config', file])).toBe(0)
      expect(out2.stderr).toBe('')
    })

    it('reports a missing --config file and broken YAML', async () => {
      const out = capture()
      expect(await run(['src', '--config', '/nonexistent/bk.yml'])).toBe(1)
      expect(out.stderr).toContain('config file /nonexistent/bk.yml does not exist')
      const dir = tempDir()
      const file = join(dir, 'bk.yml')
      writeFileSync(file, 'demo: [unclosed\n')
      const out2 = capture()
      expect(await run(['src', '--config', file])).toBe(1)
      expect(out2.stderr).toContain('not valid YAML')
    })
  })
})
