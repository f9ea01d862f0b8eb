// The plain ustar header bk writes itself (prepended members, the manifest member): byte for byte what node-tar's
// Header.encode writes for the same fields, and undefined (node-tar then writes it) for anything it does not model.
import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {nodeTar} from '../src/archive/tar-lib.js'
import {plainHeaderBlock} from '../src/archive/ustar-header.js'

type Fields = Parameters<typeof plainHeaderBlock>[1]

function byNodeTar(name: string, fields: Fields): Buffer {
  const header = new (nodeTar().Header)({path: name, ...fields})
  header.encode()
  return header.block as Buffer
}

const base: Fields = {mode: 0o644, uid: 1000, gid: 1000, size: 1234, mtime: new Date(1_700_000_000_123), type: 'File'}

describe('plainHeaderBlock', () => {
  it('writes what node-tar writes, for names, modes, owners, sizes, times and both types', () => {
    const names = ['a', 'database/', 'database/db', 'bk-manifest.json', 'x'.repeat(99), `d/${'n'.repeat(90)}/`]
    const variants: Partial<Fields>[] = [
      {},
      {type: 'Directory', size: 0, mode: 0o755},
      {mode: 0},
      {mode: 0o7777},
      {mode: 0o100644},
      {uid: 0, gid: 0},
      {uid: 0o7777777, gid: 0o7777777},
      {uid: 0o777777, gid: 0o1000000},
      {size: 0},
      {size: 511},
      {size: 2 ** 33 - 1},
      {size: 0o77777777777},
      {size: 0o7777777777},
      {mtime: new Date(0)},
      {mtime: new Date(999)},
      {mtime: new Date(0o77777777777 * 1000)},
      {mtime: new Date(Date.UTC(2038, 0, 19, 3, 14, 8, 500))},
    ]
    let compared = 0
    const mismatches: string[] = []
    for (const name of names)
      for (const variant of variants) {
        const fields = {...base, ...variant}
        const ours = plainHeaderBlock(name, fields)
        if (!ours) {
          mismatches.push(`${name} ${JSON.stringify(variant)}: not written`)
          continue
        }
        compared++
        if (!ours.equals(byNodeTar(name, fields))) mismatches.push(`${name} ${JSON.stringify(variant)}`)
      }
    expect(mismatches).toEqual([])
    expect(compared).toBe(names.length * variants.length)
  })

  it('leaves to node-tar what needs its prefix field, pax or base-256', () => {
    const refused: [string, Partial<Fields>][] = [
      ['x'.repeat(100), {}],
      [`${'d'.repeat(60)}/${'f'.repeat(60)}`, {}],
      ['caf\u00e9', {}],
      ['tab\tname', {}],
      ['', {}],
      ['a', {uid: 0o7777777 + 1}],
      ['a', {gid: -1}],
      ['a', {mode: 0o7777777 + 1}],
      ['a', {size: 0o77777777777 + 1}],
      ['a', {mtime: new Date(-1000)}],
      ['a', {mtime: new Date((0o77777777777 + 1) * 1000)}],
    ]
    for (const [name, variant] of refused) expect(plainHeaderBlock(name, {...base, ...variant}), name).toBeUndefined()
  })

  it('a manifest member is written without loading node-tar', () => {
    // a fresh process (this one has node-tar loaded): memberBlocks' bytes, and whether node-tar was required
    const dist = new URL('../dist/archive/create.js', import.meta.url).href
    const script = `
      import {createRequire} from 'node:module'
      const {memberBlocks} = await import(${JSON.stringify(dist)})
      const block = memberBlocks({name: 'bk-manifest.json', content: '{"a":1}\\n', mode: 0o644})
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => /[\\\\/]tar[\\\\/]dist[\\\\/]/.test(k))
      console.log(JSON.stringify({length: block.length, name: block.toString('latin1', 0, 16), type: block[156], loaded}))
    `
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})
    expect(JSON.parse(out)).toEqual({length: 1024, name: 'bk-manifest.json', type: 0x30, loaded: false})
  })
})
