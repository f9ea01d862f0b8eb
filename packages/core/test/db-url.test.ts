import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {
  type DbTarget,
  dbFailure,
  formatDbUrl,
  parseDbUrl,
  redactUrl,
  resolvePassword,
  urlHasPassword,
  warnIfPasswordInArgv,
} from '../src/db/index.js'

const cases: [string, Partial<DbTarget>][] = [
  ['sqlite:db/trac.db', {engine: 'sqlite', path: 'db/trac.db', params: {}}],
  ['sqlite:/var/lib/trac/trac.db', {engine: 'sqlite', path: '/var/lib/trac/trac.db'}],
  ['sqlite:///abs/trac.db', {engine: 'sqlite', path: '/abs/trac.db'}],
  [
    'sqlite:db/trac.db?timeout=10000&journal_mode=WAL',
    {path: 'db/trac.db', params: {timeout: '10000', journal_mode: 'WAL'}},
  ],
  ['sqlite::memory:', {engine: 'sqlite', path: ':memory:'}],
  [
    'postgres://tracuser:secret@db.example.org:6543/trac?schema=tracschema',
    {
      engine: 'postgres',
      user: 'tracuser',
      password: 'secret',
      host: 'db.example.org',
      port: 6543,
      database: 'trac',
      params: {schema: 'tracschema'},
    },
  ],
  [
    'postgresql://u@localhost/db',
    {engine: 'postgres', scheme: 'postgresql', host: 'localhost', port: 5432, database: 'db'},
  ],
  [
    'postgres://user@/db?host=/var/run/postgresql',
    {engine: 'postgres', user: 'user', socket: '/var/run/postgresql', port: 5432, database: 'db', host: undefined},
  ],
  ['postgres://user@:5433/db?host=/run/postgresql', {socket: '/run/postgresql', port: 5433}],
  ['postgres://u@%2Fvar%2Frun%2Fpostgresql/db', {socket: '/var/run/postgresql', host: undefined}],
  ['postgres://u:pass@/dbname', {user: 'u', password: 'pass', host: undefined, socket: undefined, database: 'dbname'}],
  [
    'mysql://trac:p%40ss%20w0rd@127.0.0.1:3306/db',
    {engine: 'mysql', user: 'trac', password: 'p@ss w0rd', host: '127.0.0.1', port: 3306, database: 'db'},
  ],
  ['mysql://trac:p%3Aw%2Frd%2B@h/db', {password: 'p:w/rd+'}],
  ['mysql://u:a+b@h/db', {password: 'a+b'}],
  ['mysql://u:p@ss@h/db', {user: 'u', password: 'p@ss', host: 'h'}],
  ['mariadb://root@127.0.0.1/', {engine: 'mysql', scheme: 'mariadb', user: 'root', database: undefined, port: 3306}],
  ['mysql://root@localhost/db?unix_socket=/run/mysqld/mysqld.sock', {socket: '/run/mysqld/mysqld.sock'}],
  ['mysql://root@localhost/db?socket=/tmp/my.sock', {socket: '/tmp/my.sock'}],
  ['mysql://u@[::1]:3307/d', {host: '::1', port: 3307}],
  ['postgres://u@h/d?password=x%26y', {password: 'x&y', params: {}}],
  ['mysql://r@h/d%C3%A9j%C3%A0', {database: 'déjà'}],
  ['mysql://u:100%@h/d', {password: '100%'}],
]

describe('parseDbUrl', () => {
  for (const [url, expected] of cases) {
    it(url, () => {
      const target = parseDbUrl(url)
      for (const [key, value] of Object.entries(expected)) {
        expect(target[key as keyof DbTarget], key).toEqual(value)
      }
    })
  }

  it.each([
    ['oracle://x@y/z', /unsupported database URL/],
    ['postgres:db', /invalid database URL/],
    ['mysql://u@h:99999/d', /invalid port '99999'/],
    ['mysql://u@h:abc/d', /invalid port 'abc'/],
    ['sqlite:', /needs a file path/],
    ['/var/lib/trac.db', /unsupported database URL/],
  ])('refuses %s with a one-line BkError', (url, message) => {
    let error: unknown
    try {
      parseDbUrl(url)
    } catch (e) {
      error = e
    }
    expect((error as Error).name).toBe('BkError')
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain('\n')
  })

  it('never echoes a password fragment that an unencoded ? made look like a port', () => {
    expect(() => parseDbUrl('postgres://u:pa?ss@h/db')).toThrow(
      "invalid database URL 'postgres://u:***@h/db': percent-encode a '?' in the password as %3F",
    )
  })

  it('never puts the password into a refusal message', () => {
    expect(() => parseDbUrl('mysql://u:topsecret@h:0/d')).toThrow(/u:\*\*\*@h/)
    expect(() => parseDbUrl('mysql://u:topsecret@h:0/d')).not.toThrow(/topsecret/)
  })
})

describe('formatDbUrl / redactUrl', () => {
  it('formats without the password unless asked, and round-trips', () => {
    const url = 'mysql://trac:p%40ss%20w0rd@127.0.0.1:3307/trac_fixture'
    const target = parseDbUrl(url)
    expect(formatDbUrl(target)).toBe('mysql://trac@127.0.0.1:3307/trac_fixture')
    expect(formatDbUrl(target, {withPassword: true})).toBe(url)
    expect(parseDbUrl(formatDbUrl(target, {withPassword: true}))).toEqual(target)
  })

  it('keeps socket parameters and leaves default ports out', () => {
    const target = parseDbUrl('postgres://user@/db?host=/var/run/postgresql')
    expect(formatDbUrl(target)).toBe('postgres://user@/db?host=/var/run/postgresql')
    expect(parseDbUrl(formatDbUrl(target))).toEqual(target)
    expect(formatDbUrl(parseDbUrl('sqlite:db/trac.db?timeout=5'))).toBe('sqlite:db/trac.db?timeout=5')
  })

  it('redacts passwords in URLs, even ones that do not parse', () => {
    expect(redactUrl('mysql://trac:p%40ss@127.0.0.1/db')).toBe('mysql://trac:***@127.0.0.1/db')
    expect(redactUrl('postgres://u@h/db?password=s3cret&x=1')).toBe('postgres://u@h/db?password=***&x=1')
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db')
    expect(redactUrl('weird://a:b@c:notaport/x')).toBe('weird://a:***@c:notaport/x')
    expect(urlHasPassword('mysql://u:@h/d')).toBe(true)
    // passwords parseDbUrl accepts unencoded: the whole of them is hidden, and the argv warning still fires
    for (const pw of ['p@ss', 'pa/ss', 'pa#ss', 'pa?ss']) {
      const url = `postgres://u:${pw}@h/db`
      expect(redactUrl(url)).toBe('postgres://u:***@h/db')
      expect(urlHasPassword(url)).toBe(true)
    }
    expect(urlHasPassword('mysql://u@h/d')).toBe(false)
  })

  it('warns when a URL given in argv carries a password, without repeating it', () => {
    const messages: string[] = []
    expect(warnIfPasswordInArgv('mysql://u:hunter2@h/d', (m) => messages.push(m))).toBe(true)
    expect(warnIfPasswordInArgv('mysql://u@h/d', (m) => messages.push(m))).toBe(false)
    expect(messages).toHaveLength(1)
    expect(messages[0]).toMatch(/contains a password/)
    expect(messages[0]).toMatch(/BK_DB_PASSWORD/)
    expect(messages[0]).not.toContain('hunter2')
  })
})

describe('resolvePassword', () => {
  const pg = parseDbUrl('postgres://u@h/d')
  const my = parseDbUrl('mysql://u@h/d')

  it('takes, in order: password file, URL, BK_DB_PASSWORD, the client variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-pw-'))
    const file = join(dir, 'pw')
    writeFileSync(file, 'from file\n', {mode: 0o600})
    const env = {BK_DB_PASSWORD: 'from bk', PGPASSWORD: 'from pg', MYSQL_PWD: 'from my'}
    expect(await resolvePassword({...pg, password: 'from url'}, {passwordFile: file, env})).toBe('from file')
    expect(await resolvePassword({...pg, password: 'from url'}, {env})).toBe('from url')
    expect(await resolvePassword(pg, {env})).toBe('from bk')
    expect(await resolvePassword(pg, {env: {PGPASSWORD: 'from pg', MYSQL_PWD: 'x'}})).toBe('from pg')
    expect(await resolvePassword(my, {env: {PGPASSWORD: 'x', MYSQL_PWD: 'from my'}})).toBe('from my')
    expect(await resolvePassword(my, {env: {APP_PW: 'app', MYSQL_PWD: 'm'}, envVar: 'APP_PW'})).toBe('app')
    expect(await resolvePassword(my, {env: {}})).toBeUndefined()
    expect(await resolvePassword({...my, password: ''}, {env: {MYSQL_PWD: 'm'}})).toBe('')
  })

  it('keeps everything but one trailing newline of a password file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-pw-'))
    const file = join(dir, 'pw')
    writeFileSync(file, ' sp ace \r\n')
    expect(await resolvePassword(pg, {passwordFile: file, env: {}})).toBe(' sp ace ')
  })

  it('names a missing password file in a BkError', async () => {
    await expect(resolvePassword(pg, {passwordFile: '/nonexistent/pw'})).rejects.toThrow(
      /cannot read the password file \/nonexistent\/pw/,
    )
  })
})

describe('dbFailure', () => {
  it('says what to do when PostgreSQL wants a password and the driver had none (also for connectPostgres)', () => {
    const target = parseDbUrl('postgres://trac@db.example.org:5432/trac')
    for (const message of [
      'SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string',
      'fe_sendauth: no password supplied',
    ]) {
      expect(dbFailure(target, {message}).message).toBe(
        'PostgreSQL at db.example.org:5432 wants a password for user "trac" and none was given — set BK_DB_PASSWORD, PGPASSWORD or --password-file',
      )
    }
  })
})
