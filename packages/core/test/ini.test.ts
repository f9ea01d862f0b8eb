import {execFileSync} from 'node:child_process'
import {chmodSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {extractFixture, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {IniChain, IniFile} from '../src/ini/index.js'

const here = fileURLToPath(new URL('.', import.meta.url))

/** What Python's configparser reads from the file: the reference (python3 must be installed). */
function pythonRead(path: string, mode: 'none' | 'basic', home = ''): Record<string, Record<string, string>> {
  const out = execFileSync('python3', [join(here, 'ini-configparser.py'), path, mode, home], {encoding: 'utf8'})
  return JSON.parse(out)
}

function allValues(ini: IniFile, options: {withDefaults?: string[]} = {}): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const section of ini.sections()) {
    out[section] = Object.fromEntries(ini.items(section))
    for (const key of options.withDefaults ?? []) out[section][key] = ini.get(section, key) as string
  }
  return out
}

/** The original bytes with exactly one line replaced. */
function withLineReplaced(original: string, oldLine: string, newLine: string): string {
  const lines = original.split('\n')
  const at = lines.indexOf(oldLine)
  expect(at, `line ${oldLine}`).toBeGreaterThanOrEqual(0)
  expect(lines.indexOf(oldLine, at + 1), `${oldLine} appears once`).toBe(-1)
  lines[at] = newLine
  return lines.join('\n')
}

describe('IniFile with the fixtures', () => {
  it('trac.ini: reads like configparser, changes one value, every other byte identical, mode kept', async () => {
    const env = join(extractFixture('trac', 'sqlite-env'), 'sqlite-env')
    const path = join(env, 'conf', 'trac.ini')
    const original = readFileSync(path, 'utf8')
    const modeBefore = statSync(path).mode & 0o7777
    expect(modeBefore).toBe(0o600)

    const ini = await IniFile.read(path)
    expect(allValues(ini)).toEqual(pythonRead(path, 'none'))
    expect(ini.get('trac', 'database')).toBe('sqlite:db/trac.db')
    expect(ini.get('TRAC', 'database')).toBeUndefined() // section names are case-sensitive
    expect(ini.get('trac', 'DataBase')).toBe('sqlite:db/trac.db') // keys are not

    ini.set('trac', 'database', 'postgres://trac@localhost/trac?schema=x%41')
    await ini.write()
    const after = readFileSync(path, 'utf8')
    expect(after).toBe(
      withLineReplaced(
        original,
        'database = sqlite:db/trac.db',
        'database = postgres://trac@localhost/trac?schema=x%41',
      ),
    )
    expect(statSync(path).mode & 0o7777).toBe(0o600)
    expect((await IniFile.read(path)).get('trac', 'database')).toBe('postgres://trac@localhost/trac?schema=x%41')
    expect(pythonRead(path, 'none').trac?.database).toBe('postgres://trac@localhost/trac?schema=x%41')
  })

  it('Roundup config.ini: %-interpolation like Roundup, one value changed, every other byte identical', async () => {
    const home = join(extractFixture('roundup', 'sqlite-home'), 'sqlite-home')
    const path = join(home, 'config.ini')
    const original = readFileSync(path, 'utf8')
    const options = {interpolation: 'basic' as const, defaults: {HOME: home, TRACKER_HOME: home}}
    const ini = await IniFile.read(path, options)
    expect(allValues(ini, {withDefaults: ['home', 'tracker_home']})).toEqual(pythonRead(path, 'basic', home))
    expect(ini.get('logging', 'format')).toBe('%(asctime)s %(trace_id)s %(levelname)s %(message)s')
    expect(ini.get('logging', 'format', {raw: true})).toBe('%%(asctime)s %%(trace_id)s %%(levelname)s %%(message)s')
    expect(ini.get('rdbms', 'backend')).toBe('sqlite')

    ini.set('rdbms', 'backend', 'postgresql')
    ini.set('rdbms', 'password', '50% off') // a % must reach Roundup as written
    await ini.write()
    const after = readFileSync(path, 'utf8')
    const oldPassword = original
      .split('\n')
      .find((l) => l.startsWith('password = ') && original.indexOf(l) > original.indexOf('[rdbms]'))
    let expected = withLineReplaced(original, 'backend = sqlite', 'backend = postgresql')
    expect(oldPassword).toBe('password = roundup')
    expected = withLineReplaced(expected, oldPassword as string, 'password = 50%% off')
    expect(after).toBe(expected)
    expect(pythonRead(path, 'basic', home).rdbms).toMatchObject({backend: 'postgresql', password: '50% off'})
  })
})

describe('IniFile parsing (configparser rules)', () => {
  const tricky = [
    '# comment before sections',
    '; another',
    '',
    '[DEFAULT]',
    'shared = from default',
    '',
    '[main]',
    'Key = value with = sign and : colon',
    'colon: style',
    'empty =',
    'multi = first',
    '  second',
    '',
    '  after blank',
    '  # a comment inside is skipped',
    '\tthird',
    '    ; indented comment',
    'spaces   =   padded   ',
    '',
    '[main]',
    'again = merged section',
    '[other]  ',
    'url = sqlite:db/trac.db?x=1;y=2 # not a comment',
    'KEY = last wins',
    'key = really last',
    '',
  ].join('\n')

  it('matches Python’s configparser on a tricky file', () => {
    const dir = tempDir()
    const path = join(dir, 'x.ini')
    writeFileSync(path, tricky)
    const ini = IniFile.parse(tricky)
    expect(allValues(ini, {withDefaults: ['shared']})).toEqual(pythonRead(path, 'none'))
    expect(ini.get('main', 'multi')).toBe('first\nsecond\n\nafter blank\nthird')
    expect(ini.get('other', 'shared')).toBe('from default')
    expect(ini.keys('main')).toEqual(['key', 'colon', 'empty', 'multi', 'spaces', 'again'])
  })

  it('round-trips bytes exactly when nothing is changed (CRLF, BOM, no final newline)', () => {
    for (const text of [tricky, tricky.replaceAll('\n', '\r\n'), `\uFEFF[a]\nx = 1`, '[a]\r\nx = 1\r\n\r\n']) {
      expect(IniFile.parse(text).toString()).toBe(text)
    }
    expect(IniFile.parse('\uFEFF[a]\nx = 1').get('a', 'x')).toBe('1')
  })

  it('reports text outside sections and lines that are not options, with the line number', () => {
    expect(() => IniFile.parse('x = 1\n[a]\n', {path: 'bad.ini'})).toThrow(
      /bad\.ini: line 1: text before the first \[section\]/,
    )
    expect(() => IniFile.parse('[a]\nx = 1\njust words\n')).toThrow(/line 3: not a "key = value" line/)
    expect(() => IniFile.parse('[a]\n= value\n')).toThrow(BkError)
  })

  it('interpolation errors are BkErrors naming the option', () => {
    const ini = IniFile.parse('[a]\nx = 100%\ny = %(missing)s\nz = %(z)s\n', {interpolation: 'basic'})
    expect(() => ini.get('a', 'x')).toThrow(/\[a\] x: '%' must be followed/)
    expect(() => ini.get('a', 'y')).toThrow(/%\(missing\)s refers to a missing option/)
    expect(() => ini.get('a', 'z')).toThrow(/nested deeper than 10/)
    expect(ini.get('a', 'x', {raw: true})).toBe('100%')
  })

  it('getBoolean and getInt follow configparser', () => {
    const ini = IniFile.parse('[a]\nb1 = Yes\nb2 = off\nb3 = maybe\nn = 42\nm = 4.2\n')
    expect(ini.getBoolean('a', 'b1')).toBe(true)
    expect(ini.getBoolean('a', 'b2')).toBe(false)
    expect(() => ini.getBoolean('a', 'b3')).toThrow(/not a boolean/)
    expect(ini.getInt('a', 'n')).toBe(42)
    expect(() => ini.getInt('a', 'm')).toThrow(/not a whole number/)
    expect(ini.getInt('a', 'missing')).toBeUndefined()
  })
})

describe('IniFile editing', () => {
  it('replaces a multi-line value in place, keeping key spelling, delimiter style and indentation', () => {
    const text = '[inherit]\nFile = /etc/trac/a.ini,\n      /etc/trac/b.ini\n# keep me\nplugins_dir =\n[x]\ny: 1\n'
    const ini = IniFile.parse(text)
    ini.set('inherit', 'file', '/srv/a.ini,\n/srv/b.ini,\n/srv/c.ini')
    ini.set('inherit', 'plugins_dir', 'plugins')
    ini.set('x', 'y', '2')
    expect(ini.toString()).toBe(
      '[inherit]\nFile = /srv/a.ini,\n      /srv/b.ini,\n      /srv/c.ini\n# keep me\nplugins_dir = plugins\n[x]\ny: 2\n',
    )
    expect(ini.get('inherit', 'file')).toBe('/srv/a.ini,\n/srv/b.ini,\n/srv/c.ini')
  })

  it('appends a new key after the section’s last option, in the section’s style', () => {
    const text = '[a]\n# about x\nx=1\n\n# about the next section\n[b]\ny = 2'
    const ini = IniFile.parse(text)
    ini.set('a', 'new', 'v')
    ini.set('b', 'z', '3')
    expect(ini.toString()).toBe('[a]\n# about x\nx=1\nnew=v\n\n# about the next section\n[b]\ny = 2\nz = 3')
  })

  it('adds a missing section at the end, separated by a blank line, in the file’s line endings', () => {
    const ini = IniFile.parse('[a]\r\nx = 1')
    ini.set('new section', 'k', 'v')
    expect(ini.toString()).toBe('[a]\r\nx = 1\r\n\r\n[new section]\r\nk = v\r\n')
    expect(IniFile.parse('').set('s', 'k', 'v').toString()).toBe('[s]\nk = v\n')
  })

  it('removes an option with its continuation lines', () => {
    const ini = IniFile.parse('[a]\nx = 1\n  2\ny = 3\n')
    expect(ini.remove('a', 'X')).toBe(true)
    expect(ini.remove('a', 'nope')).toBe(false)
    expect(ini.toString()).toBe('[a]\ny = 3\n')
  })

  it('refuses keys and values that would not read back the same', () => {
    const ini = IniFile.parse('[a]\n')
    for (const [key, value] of [
      ['k=v', 'x'],
      ['', 'x'],
      ['#k', 'x'],
      ['k', ' padded'],
      ['k', 'line\n#comment'],
      ['k', 'cr\r'],
    ]) {
      expect(() => ini.set('a', key as string, value as string), `${key}=${value}`).toThrow(BkError)
    }
    expect(() => ini.set('a]', 'k', 'v')).toThrow(BkError)
  })

  it('writes atomically: a new file gets the given mode, a symlinked file is written at its target', async () => {
    const dir = tempDir()
    const path = join(dir, 'new.ini')
    await IniFile.parse('').set('a', 'k', 'v').write(path, {mode: 0o600})
    expect(readFileSync(path, 'utf8')).toBe('[a]\nk = v\n')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    chmodSync(path, 0o640)
    const ini = await IniFile.read(path)
    await ini.set('a', 'k', 'w').write()
    expect(statSync(path).mode & 0o777).toBe(0o640)
  })

  it('read: missing file and non-UTF-8 are BkErrors', async () => {
    const dir = tempDir()
    await expect(IniFile.read(join(dir, 'nope.ini'))).rejects.toThrow(/cannot read .*nope\.ini/)
    writeFileSync(join(dir, 'latin1.ini'), Buffer.from([0x5b, 0x61, 0x5d, 0x0a, 0x78, 0x3d, 0xe9, 0x0a]))
    await expect(IniFile.read(join(dir, 'latin1.ini'))).rejects.toThrow(/is not UTF-8/)
  })
})

describe('IniChain', () => {
  it('reads several files, the first that sets an option winning', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'local.ini'), '[trac]\nbase_url = http://local\n')
    writeFileSync(join(dir, 'global.ini'), '[trac]\nbase_url = http://global\ndatabase = postgres://db/trac\n')
    const chain = await IniChain.read([join(dir, 'local.ini'), join(dir, 'global.ini')])
    expect(chain.get('trac', 'base_url')).toBe('http://local')
    expect(chain.get('trac', 'database')).toBe('postgres://db/trac')
    expect(chain.source('trac', 'database')?.path).toBe(join(dir, 'global.ini'))
    expect(chain.get('trac', 'nothing')).toBeUndefined()
  })
})
