import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

const core = fileURLToPath(new URL('..', import.meta.url))

/** The bundle's files, each with its sha256 and whether it names a temporary folder, as one JSON text. */
function built(dir: string): string {
  const out = join(dir, 'dist', 'vendor', 'oclif')
  return JSON.stringify(
    readdirSync(out)
      .sort()
      .map((name) => {
        const text = readFileSync(join(out, name), 'utf8')
        const temporary = /bk-oclif-bundle-|\.oclif-bundle-test-/.test(text)
        return [name, createHash('sha256').update(text).digest('hex').slice(0, 16), temporary ? 'temporary' : '']
      }),
    null,
    1,
  )
}

describe('scripts/oclif-bundle.mjs', () => {
  it('writes the same bytes on each build, names no temporary folder and leaves no stale chunk', () => {
    // a copy of the script in a folder inside packages/core (so @oclif/core and esbuild resolve as for the real build)
    // writes its own dist/, leaving the one other tests load alone
    const dir = mkdtempSync(join(core, '.oclif-bundle-test-'))
    try {
      mkdirSync(join(dir, 'scripts'))
      cpSync(join(core, 'scripts', 'oclif-bundle.mjs'), join(dir, 'scripts', 'oclif-bundle.mjs'))
      const run = () => execFileSync(process.execPath, [join(dir, 'scripts', 'oclif-bundle.mjs')], {stdio: 'pipe'})
      run()
      const first = built(dir)
      writeFileSync(join(dir, 'dist', 'vendor', 'oclif', 'chunk-STALE000.js'), 'export {}\n')
      run()
      const second = built(dir)
      expect(second).not.toContain('chunk-STALE000.js')
      expect(second).not.toContain('temporary')
      expect(second).toBe(first)
      // the notices of what was bundled travel with it: oclif's and its dependencies', each with its licence text
      const notices = readFileSync(join(dir, 'dist', 'vendor', 'oclif', 'THIRD-PARTY-LICENSES.txt'), 'utf8')
      const sections = notices.split('\n---\n')
      const ids = sections.map((s) => /^(?:.*\n\n)?(@?[^@\s]+)@\d/.exec(s.trimStart())?.[1])
      expect(ids).toContain('@oclif/core')
      expect(ids).toContain('semver')
      expect(ids).toContain('ejs')
      for (const section of sections) expect(section).toMatch(/\nLicense: \S+\n\n[\s\S]*(Copyright|Permission|Apache)/i)
      expect(notices).not.toMatch(/node_modules|\/tmp\//)
      // and what it writes loads: every entry's every export defined (a virtual entry not in Node's mode read the
      // CommonJS module's exports from an undefined default)
      const probe = `const names = ['index', 'execute', 'settings', 'config', 'help']
        const out = []
        for (const name of names) {
          const m = await import(new URL('dist/vendor/oclif/' + name + '.js', ${JSON.stringify(pathToFileURL(`${dir}/`).href)}))
          out.push(name + ':' + Object.keys(m).filter((k) => m[k] === undefined).join(',') + ':' + Object.keys(m).length)
        }
        console.log(out.join(' '))`
      const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', probe], {encoding: 'utf8'}).trim()
      expect(loaded).toMatch(/^index::2\d execute::1 settings::1 config::\d+ help::\d+$/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }, 60_000)
})
