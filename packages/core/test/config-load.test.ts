// loadConfigFile names a file's own fault (YAML that does not parse) as such, and nothing else: a bk.yml that cannot
// be read, or a yaml module that does not load (a cut dist/vendor/yaml.cjs), is not the user's YAML to fix.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it, vi} from 'vitest'
import {loadConfigFile} from '../src/config/load.js'
import {yaml} from '../src/yaml.js'

vi.mock('../src/yaml.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/yaml.js')>()
  return {...actual, yaml: vi.fn(actual.yaml)}
})

const root = mkdtempSync(join(tmpdir(), 'bk-config-load-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error & {code?: string}) => error,
  )

describe('loadConfigFile', () => {
  it('reads sections, and calls YAML that does not parse not valid', async () => {
    const dir = mkdtempSync(join(root, 'ok-'))
    writeFileSync(join(dir, 'bk.yml'), 'core:\n  target: /t\n')
    expect(await loadConfigFile(undefined, dir)).toEqual({file: join(dir, 'bk.yml'), sections: {core: {target: '/t'}}})
    writeFileSync(join(dir, 'bk.yml'), 'core: [unclosed\n')
    const error = await failure(loadConfigFile(undefined, dir))
    expect(error?.code).toBe('ECONFIG')
    expect(error?.message).toMatch(/^.*bk\.yml: not valid YAML: Flow sequence/)
  })

  it('a bk.yml that cannot be read is said so, not called invalid YAML', async () => {
    const dir = mkdtempSync(join(root, 'dir-'))
    mkdirSync(join(dir, 'bk.yml'))
    const error = await failure(loadConfigFile(undefined, dir))
    expect(error?.code).toBe('ECONFIG')
    expect(error?.message).toBe(
      `${join(dir, 'bk.yml')}: cannot be read (EISDIR: illegal operation on a directory, read)`,
    )
  })

  it('a yaml module that does not load fails as itself, not as the file’s YAML', async () => {
    const dir = mkdtempSync(join(root, 'module-'))
    writeFileSync(join(dir, 'bk.yml'), 'core:\n  target: /t\n')
    vi.mocked(yaml).mockImplementationOnce(() => {
      throw new SyntaxError('Unexpected end of input')
    })
    const error = await failure(loadConfigFile(undefined, dir))
    expect(error).toBeInstanceOf(SyntaxError)
    expect(error?.message).toBe('Unexpected end of input')
  })
})
