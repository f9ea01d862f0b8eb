import {describe, expect, it} from 'vitest'
import {redact, redactText} from '../src/ui/redact.js'

describe('redact', () => {
  it('removes passwords from URLs in text', () => {
    expect(redactText('mysql://trac:p%40ss%20w0rd@127.0.0.1:3306/trac_fixture')).toBe(
      'mysql://trac:***@127.0.0.1:3306/trac_fixture',
    )
    expect(redactText('postgres://user@/db?host=/run')).toBe('postgres://user@/db?host=/run')
  })
  it('removes passwords that parseDbUrl accepts unencoded (@, /, #) and password= parameters', () => {
    expect(redactText("bad URL 'mysql://u:p@ss@h/db' here")).toBe("bad URL 'mysql://u:***@h/db' here")
    expect(redactText('postgres://u:pa/ss@h/db failed')).toBe('postgres://u:***@h/db failed')
    expect(redactText('postgres://u:pa#ss@h/db')).toBe('postgres://u:***@h/db')
    expect(redactText('postgres://u@h/db?password=s3cret&x=1')).toBe('postgres://u@h/db?password=***&x=1')
    expect(redactText('see http://host:8080/path and mysql://u@h/db')).toBe(
      'see http://host:8080/path and mysql://u@h/db',
    )
  })
  it('masks secret-named keys deeply', () => {
    expect(redact({db: {password: 'x', user: 'u'}, list: [{token: 't'}], ok: true})).toEqual({
      db: {password: '***', user: 'u'},
      list: [{token: '***'}],
      ok: true,
    })
  })
})
