import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import {yaml as fromSources} from '../src/yaml.js'

const require = createRequire(import.meta.url)
const bundled = fileURLToPath(new URL('../dist/vendor/yaml.cjs', import.meta.url))

const COMPOSE = `x-logging: &logging
  driver: json-file
  options: {max-size: "10m"}
services:
  mariadb:
    image: ghcr.io/linuxserver/mariadb
    logging: *logging
    environment:
      - MYSQL_ROOT_PASSWORD=\${ROOT_PW:-changeme}
      - TZ=Etc/UTC
    volumes:
      - ./volumes/mariadb/config:/config
      - type: bind
        source: ./volumes/mariadb/db_backup
        target: /backup
  nodered:
    build: {context: ./services/nodered/., args: [DOCKERHUB_TAG=latest]}
    environment: {TZ: Etc/UTC, EMPTY: ~, PORT: 1880, ON: yes}
    <<: {restart: unless-stopped}
    command: >
      folded
      text
`

describe('yaml, one file (dist/vendor/yaml.cjs)', () => {
  it('is what dist loads, and parses as the yaml package does, errors included', async () => {
    // built by scripts/yaml-bundle.mjs (run pnpm build)
    expect(readFileSync(bundled, 'utf8')).toContain('parseDocument')
    const {yaml} = (await import('../dist/yaml.js')) as typeof import('../src/yaml.js')
    const loaded = yaml()
    expect(loaded).toBe(require(bundled))
    const pkg = require('yaml') as typeof import('yaml')
    expect(loaded).not.toBe(pkg)
    expect(loaded.parse(COMPOSE, {merge: true})).toEqual(pkg.parse(COMPOSE, {merge: true}))
    expect(loaded.parse(COMPOSE)).toEqual(pkg.parse(COMPOSE))
    expect(loaded.parse(COMPOSE).services.nodered.environment).toEqual({
      TZ: 'Etc/UTC',
      EMPTY: null,
      PORT: 1880,
      ON: 'yes',
    })
    for (const bad of ['services:\n  a: [1, 2\n', 'a: b: c\n', 'services:\n\t- x\n', '"unclosed\n']) {
      const message = (parse: (text: string) => unknown) => {
        try {
          parse(bad)
          return 'parsed'
        } catch (error) {
          return (error as Error).message
        }
      }
      const theirs = message((t) => pkg.parse(t))
      expect(theirs).not.toBe('parsed')
      expect(message((t) => loaded.parse(t))).toBe(theirs)
    }
    expect(loaded.stringify({a: [1, {b: 'c'}]})).toBe(pkg.stringify({a: [1, {b: 'c'}]}))
  })

  it('falls back to the yaml package where the one file is absent (sources)', () => {
    const loaded = fromSources()
    expect(loaded).toBe(require('yaml'))
    expect(fromSources()).toBe(loaded)
    expect(loaded.parse('a: [1, 2]')).toEqual({a: [1, 2]})
  })
})
