// normalizeName (archive/read.ts): a name with no empty or '.' part is returned as it is, without a split and join;
// every other name as the split, filter and join always made it. Checked against that reference on tricky names.
import {describe, expect, it} from 'vitest'
import {normalizeName} from '../src/archive/read.js'

/** What normalizeName always returned: the '/'-separated parts that are neither empty nor '.', or '.'. */
const reference = (path: string) => {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  return parts.length === 0 ? '.' : parts.join('/')
}

const PARTS = ['', '.', '..', '.a', 'a.', 'a', 'b.c', '...', ' ', 'é', '\u{1F600}', '.\n', 'a\\b']

describe('normalizeName', () => {
  it('gives what the split, filter and join gave, for every name of up to three parts of tricky pieces', () => {
    let checked = 0
    for (const a of PARTS)
      for (const b of [undefined, ...PARTS])
        for (const c of [undefined, ...PARTS]) {
          const path = [a, b, c].filter((p) => p !== undefined).join('/')
          for (const name of [path, `/${path}`, `${path}/`, `./${path}`, `${path}//`]) {
            expect(normalizeName(name), JSON.stringify(name)).toBe(reference(name))
            checked++
          }
        }
    expect(checked).toBeGreaterThan(900)
  })

  it('keeps a plain name as it is (the same string) and strips what tar members carry', () => {
    expect(normalizeName('home/db/files/msg/0/msg1')).toBe('home/db/files/msg/0/msg1')
    expect(normalizeName('./home/db/')).toBe('home/db')
    expect(normalizeName('./')).toBe('.')
    expect(normalizeName('')).toBe('.')
    expect(normalizeName('a/./b/.')).toBe('a/b')
    expect(normalizeName('../x/..')).toBe('../x/..')
  })
})
