// biome-ignore-all lint/suspicious/noTemplateCurlyInString: docker compose variable syntax, not JS templates
import {join} from 'node:path'
import {extractFixture} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {loadComposeProject, parseComposeText} from '../src/compose-file.js'
import {engineOf, findDatabaseServices, missingRequiredVariables} from '../src/database-services.js'
import {interpolate, parseDotenv} from '../src/dotenv.js'

describe('dotenv and interpolation', () => {
  it('parses .env lines like docker compose', () => {
    const vars = parseDotenv('# c\nA=1\nexport B = two words # note\nC="q # not comment"\nD=\'x\'\nbad line\nE=\n')
    expect(vars).toEqual({A: '1', B: 'two words', C: 'q # not comment', D: 'x', E: ''})
  })

  it('expands defaults, required and alternative forms', () => {
    const vars = {SET: 'v', EMPTY: ''}
    expect(interpolate('${SET} $SET $$SET', vars).value).toBe('v v $SET')
    expect(interpolate('${EMPTY:-d} ${EMPTY-d} ${NONE-d}', vars).value).toBe('d  d')
    expect(interpolate('${SET:+alt}${NONE:+alt}', vars).value).toBe('alt')
    const required = interpolate('${NONE:?eg echo NONE=x >>~/IOTstack/.env} ${EMPTY:?x}', vars)
    expect(required.missing).toEqual(['NONE', 'EMPTY'])
  })
})

describe('compose project of the fixture stack', () => {
  const stack = join(extractFixture('iotstack', 'stack'), 'stack')

  it('finds the services and the database ones, with their dump folders', async () => {
    const project = await loadComposeProject(stack, {})
    expect(project.services.map((s) => s.name)).toEqual(['mosquitto', 'nodered', 'influxdb', 'mariadb', 'grafana'])
    const dbs = findDatabaseServices(project)
    expect(dbs.map((d) => [d.service, d.engine, d.dumpDir])).toEqual([
      // influxdb 1.x maps its backup dir under ./backups/, which is not archived: bk uses volumes/ instead
      ['influxdb', 'influxdb1', 'volumes/influxdb/db_backup'],
      ['mariadb', 'mariadb', 'volumes/mariadb/db_backup'],
    ])
  })

  it('dump scripts name the password variable, never its value', async () => {
    const project = await loadComposeProject(stack, {})
    expect(project.variables.MARIADB_ROOT_PASSWORD).toBe('r00t-secret')
    for (const db of findDatabaseServices(project)) {
      for (const script of [db.dumpScript, db.loadScript, db.readyScript]) expect(script).not.toContain('secret')
    }
    const maria = findDatabaseServices(project).find((d) => d.engine === 'mariadb')!
    expect(maria.dumpScript).toContain('MYSQL_PWD="$MYSQL_ROOT_PASSWORD"')
  })

  it('reports required variables .env lacks (compose itself would refuse to run)', async () => {
    const project = await loadComposeProject(stack, {})
    expect(missingRequiredVariables(project)).toEqual(['MARIADB_USER_PASSWORD'])
  })

  it('refuses a mariadb service whose root password variable .env does not set', async () => {
    const project = await loadComposeProject(stack, {})
    delete project.variables.MARIADB_ROOT_PASSWORD
    expect(() => findDatabaseServices(project)).toThrow(/MYSQL_ROOT_PASSWORD needs MARIADB_ROOT_PASSWORD/)
  })

  it('refuses a folder without docker-compose.yml and invalid YAML, naming the file', async () => {
    await expect(loadComposeProject(join(stack, 'services'))).rejects.toThrow(/holds no docker-compose.yml/)
    expect(() => parseComposeText('services: [a\n', 'x.yml')).toThrow(/x.yml is not valid YAML/)
  })
})

describe('PostgreSQL and InfluxDB 2 services', () => {
  it('name the password and token variables in their scripts, and use the mapped dump folder', () => {
    const services = parseComposeText(
      [
        'services:',
        '  postgres:',
        '    image: postgres:16-alpine',
        '    environment:',
        '      POSTGRES_USER: ${POSTGRES_USER:-iot}',
        '      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}',
        '    volumes:',
        '      - ./volumes/postgres/db_backup:/backup',
        '  influxdb2:',
        '    image: influxdb:2.7',
        '    environment:',
        '      - DOCKER_INFLUXDB_INIT_ADMIN_TOKEN=${INFLUXDB2_TOKEN:?set it}',
        '    volumes:',
        '      - type: bind',
        '        source: ./volumes/influxdb2/backup',
        '        target: /var/lib/backup',
      ].join('\n'),
    )
    const project = {
      dir: '.',
      files: [],
      services,
      variables: {POSTGRES_PASSWORD: 'pg-secret', INFLUXDB2_TOKEN: 'tok-secret'},
    }
    const [pg, influx] = findDatabaseServices(project)
    expect(pg).toMatchObject({
      engine: 'postgres',
      dumpDir: 'volumes/postgres/db_backup',
      dumpFile: 'bk-dump-postgres.sql.gz',
    })
    expect(pg!.dumpScript).toBe(
      'export PGPASSWORD="$POSTGRES_PASSWORD"; exec pg_dumpall -U "${POSTGRES_USER:-postgres}" --clean --if-exists',
    )
    expect(influx).toMatchObject({engine: 'influxdb2', dumpDir: 'volumes/influxdb2/backup'})
    expect(influx!.dumpScript).toContain('export INFLUX_TOKEN="$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"')
    for (const db of [pg!, influx!]) expect(`${db.dumpScript}${db.loadScript}`).not.toMatch(/secret/)
    delete (project.variables as Record<string, string | undefined>).POSTGRES_PASSWORD
    expect(() => findDatabaseServices(project)).toThrow(
      /POSTGRES_PASSWORD needs POSTGRES_PASSWORD, which .env does not set/,
    )
  })
})

describe('engine detection', () => {
  const vars = {variables: {PG: 'postgres:16'}}
  const svc = (image?: string, build?: string) => ({name: 's', image, build, environment: {}, binds: []})
  it('reads images, tags and IOTstack build contexts', () => {
    expect(engineOf(svc('ghcr.io/linuxserver/mariadb:latest'), vars)).toBe('mariadb')
    expect(engineOf(svc(undefined, './.templates/mariadb/.'), vars)).toBe('mariadb')
    expect(engineOf(svc('${PG}'), vars)).toBe('postgres')
    expect(engineOf(svc('influxdb:1.8'), vars)).toBe('influxdb1')
    expect(engineOf(svc('influxdb:2.7-alpine'), vars)).toBe('influxdb2')
    expect(engineOf(svc('influxdb'), vars)).toBe('influxdb2')
    expect(engineOf(svc('grafana/grafana'), vars)).toBeUndefined()
    expect(engineOf(svc('localhost:5000/mariadb:10'), vars)).toBe('mariadb')
  })
})
