import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {rewriteDumpFile, sitePathLineRewriter} from '../src/dump/rewrite-dump.js'
import {fromByteString, rewriteSerialized, toByteString} from '../src/dump/serialized.js'

const replaceSites = (from: string, to: string) => (s: string) => s.split(toByteString(from)).join(toByteString(to))

describe('rewriteSerialized', () => {
  it('fixes the length prefix of a rewritten string', () => {
    expect(
      rewriteSerialized('s:23:"sites/example.com/files";', replaceSites('sites/example.com', 'sites/new.example.org')),
    ).toBe('s:27:"sites/new.example.org/files";')
  })

  it('counts bytes, not characters (accents, emoji)', () => {
    const value = toByteString('a:2:{s:4:"path";s:34:"sites/example.com/files/é🚀.png";s:1:"x";i:1;}')
    // the fixture-style input must be valid: é = 2 bytes, 🚀 = 4 bytes
    expect(Buffer.byteLength('sites/example.com/files/é🚀.png')).toBe(34)
    const out = fromByteString(rewriteSerialized(value, replaceSites('sites/example.com', 'sites/ex.org')))
    expect(out).toBe('a:2:{s:4:"path";s:29:"sites/ex.org/files/é🚀.png";s:1:"x";i:1;}')
    expect(Buffer.byteLength('sites/ex.org/files/é🚀.png')).toBe(29)
  })

  it('handles serialized data inside a serialized string and quotes inside strings', () => {
    const inner = 's:17:"sites/example.com";'
    const outer = `a:1:{s:1:"k";s:${inner.length}:"${inner}";}`
    const out = rewriteSerialized(outer, replaceSites('sites/example.com', 'sites/b.io'))
    expect(out).toBe('a:1:{s:1:"k";s:18:"s:10:"sites/b.io";";}')
    // a string containing '";' is read by its length, not by the quote
    const tricky = 's:26:"x";s:17:"sites/example.com";'
    expect(rewriteSerialized(tricky, replaceSites('sites/example.com', 'sites/b.io'))).toBe(
      's:19:"x";s:17:"sites/b.io";',
    )
  })

  it('leaves text that is not serialized as a plain replacement, and broken prefixes alone', () => {
    expect(
      rewriteSerialized('<img src="/sites/example.com/files/a.png">', replaceSites('sites/example.com', 'sites/b.io')),
    ).toBe('<img src="/sites/b.io/files/a.png">')
    expect(rewriteSerialized('s:99:"sites/example.com";', replaceSites('sites/example.com', 'sites/b.io'))).toBe(
      's:99:"sites/b.io";',
    )
  })
})

describe('dump rewriting', () => {
  it('rewrites the fixture dump: serialized variable fixed, everything else byte-identical', async () => {
    const dir = tempDir()
    const src = join(dir, 'database.sql')
    execFileSync('sh', [
      '-c',
      `tar xzf "${fixturePath('aegir', 'backups', 'example.com-20261121.222734.tar.gz')}" -C "${dir}" ./database.sql`,
    ])
    const dest = join(dir, 'out.sql')
    const stats = await rewriteDumpFile(
      src,
      dest,
      sitePathLineRewriter({fromUri: 'example.com', toUri: 'clone.example.org', engine: 'mysql'}),
    )
    expect(stats.changed).toBe(1)
    const before = readFileSync(src, 'latin1').split('\n')
    const after = readFileSync(dest, 'latin1').split('\n')
    expect(after.length).toBe(before.length)
    const changed = after.filter((line, i) => line !== before[i])
    expect(changed).toEqual([`('file_public_path','s:29:\\"sites/clone.example.org/files\\";'),`])
    expect(statSync(dest).mode & 0o777).toBe(0o600)
    // the emoji titles pass through untouched
    expect(
      createHash('sha256')
        .update(after.filter((l) => l.includes('🚀'.length ? 'caf' : '')).join('\n'))
        .digest('hex'),
    ).toBe(
      createHash('sha256')
        .update(before.filter((l) => l.includes('caf')).join('\n'))
        .digest('hex'),
    )
  })

  it('rewrites escaped and multibyte values in mysqldump literals, hex blobs and pg COPY lines', async () => {
    const dir = tempDir()
    const src = join(dir, 'in.sql')
    const bad = 's:35:"sites/example.com/files/José\'s.txt";'
    const hex = Buffer.from('s:23:"sites/example.com/files";').toString('hex').toUpperCase()
    writeFileSync(
      src,
      [
        "-- comment with sites/example.com and a quote ' here",
        `INSERT INTO \`variable\` VALUES ('a','${bad.replace(/'/g, "\\'").replace(/"/g, '\\"')}'),('b',0x${hex}),('sites/example.com.au','x');`,
        'no newline at the end: sites/example.com',
      ].join('\n'),
    )
    expect(Buffer.byteLength("sites/example.com/files/José's.txt")).toBe(35)
    const dest = join(dir, 'out.sql')
    const stats = await rewriteDumpFile(
      src,
      dest,
      sitePathLineRewriter({fromUri: 'example.com', toUri: 'b.io', engine: 'mysql'}),
    )
    const out = readFileSync(dest, 'utf8').split('\n')
    expect(out[0]).toBe("-- comment with sites/example.com and a quote ' here")
    const newHex = Buffer.from('s:16:"sites/b.io/files";').toString('hex').toUpperCase()
    expect(out[1]).toBe(
      `INSERT INTO \`variable\` VALUES ('a','s:28:\\"sites/b.io/files/José\\'s.txt\\";'),('b',0x${newHex}),('sites/example.com.au','x');`,
    )
    expect(out[2]).toBe('no newline at the end: sites/example.com')
    expect(stats.changed).toBe(2)

    const pg = join(dir, 'pg.sql')
    const byteaHex = Buffer.from('s:23:"sites/example.com/files";').toString('hex')
    writeFileSync(
      pg,
      [
        'COPY public.variable (name, value) FROM stdin;',
        `file_public_path\t\\\\x${byteaHex}`,
        'body\ts:31:"sites/example.com/files/a\\tb.txt";\t\\N',
        '\\.',
        'INSERT INTO x VALUES (\'s:17:"sites/example.com";\');',
      ].join('\n') + '\n',
    )
    const pgOut = join(dir, 'pg-out.sql')
    await rewriteDumpFile(pg, pgOut, sitePathLineRewriter({fromUri: 'example.com', toUri: 'b.io', engine: 'postgres'}))
    const lines = readFileSync(pgOut, 'utf8').split('\n')
    expect(lines[1]).toBe(`file_public_path\t\\\\x${Buffer.from('s:16:"sites/b.io/files";').toString('hex')}`)
    expect(lines[2]).toBe('body\ts:24:"sites/b.io/files/a\\tb.txt";\t\\N')
    expect(lines[4]).toBe('INSERT INTO x VALUES (\'s:10:"sites/b.io";\');')
  })
})
