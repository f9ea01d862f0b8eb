import {describe, expect, it} from 'vitest'
import {redact, redactText} from '../src/ui/redact.js'

describe('redact', () => {
  it('removes passwords from URLs in text', () => {
    expect(redactText('mysql://trac:p%40ss%20w0rd@127.0.0.1:3306/trac_fixture')).toBe(
      'mysql://trac:***@127.0.0.1:3306/trac_fixture',
    )
    expect(redactText('postgres://user@/db?host=/run')).toBe('postgres://user@/db?host=/run')
  })
  it('masks secret-named keys deeply', () => {
    expect(redact({db: {password: 'x', user: 'u'}, list: [{token: 't'}], ok: true})).toEqual({
      db: {password: '***', user: 'u'},
      list: [{token: '***'}],
      ok: true,
    })
  })
})
