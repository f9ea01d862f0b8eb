// biome-ignore-all lint/suspicious/noTemplateCurlyInString: docker compose variable syntax, not JS templates
import {BkError} from '@bkcli/core/errors'
import type {ComposeProject, ComposeService} from './compose-file.js'
import {interpolate} from './dotenv.js'

/**
 * Database services of a compose project and how to dump/load each one inside its own container
 * (what Paraphraser/IOTstackBackup does, minus the password in argv). Scripts name the container's environment
 * variables (`"$MYSQL_ROOT_PASSWORD"`); their values never leave the container, and never appear in argv.
 */
export type Engine = 'mariadb' | 'postgres' | 'influxdb1' | 'influxdb2'

export interface DatabaseService {
  service: string
  engine: Engine
  /** Host folder for the dump, relative to the stack ('volumes/mariadb/db_backup'). */
  dumpDir: string
  /** File name of the dump inside dumpDir. */
  dumpFile: string
  /** The dump is gzipped on the host (SQL text); influx backups are tar streams. */
  gzip: boolean
  dumpScript: string
  loadScript: string
  readyScript: string
}

/** Container paths the IOTstack templates map their dump folders to. */
const BACKUP_MOUNTS = ['/backup', '/var/lib/backup', '/var/lib/influxdb/backup']

export function engineOf(service: ComposeService, project: Pick<ComposeProject, 'variables'>): Engine | undefined {
  const image = interpolate(service.image ?? '', project.variables).value.toLowerCase()
  const lastSegment = image.split('@')[0]!.split('/').at(-1) ?? ''
  const [repo = '', tag = 'latest'] = lastSegment.split(':')
  const built =
    (service.build ?? '')
      .toLowerCase()
      .replace(/\/\.?$/, '')
      .split('/')
      .at(-1) ?? ''
  const name = repo || built
  if (name === 'mariadb' || name === 'mysql') return 'mariadb'
  if (name === 'postgres' || name === 'postgis' || name.startsWith('timescaledb')) return 'postgres'
  if (name === 'influxdb2') return 'influxdb2'
  if (name === 'influxdb') return repo && !tag.startsWith('1') ? 'influxdb2' : 'influxdb1'
  return undefined
}

/** Every database service of the project, with the credential variables checked against `.env`. */
export function findDatabaseServices(project: ComposeProject): DatabaseService[] {
  const found: DatabaseService[] = []
  for (const service of project.services) {
    const engine = engineOf(service, project)
    if (!engine) continue
    found.push(describe(service, engine, project))
  }
  return found
}

function describe(service: ComposeService, engine: Engine, project: ComposeProject): DatabaseService {
  const dumpDir = dumpDirOf(service)
  switch (engine) {
    case 'mariadb': {
      const pw = credentialVar(service, project, ['MYSQL_ROOT_PASSWORD', 'MARIADB_ROOT_PASSWORD'], true)!
      const withPw = `export MYSQL_PWD="$${pw}"; `
      return {
        service: service.name,
        engine,
        dumpDir,
        dumpFile: `bk-dump-${service.name}.sql.gz`,
        gzip: true,
        dumpScript: `${withPw}D=$(command -v mariadb-dump || command -v mysqldump) && exec "$D" -uroot --single-transaction --quick --routines --events --triggers --all-databases`,
        loadScript: `${withPw}C=$(command -v mariadb || command -v mysql) && exec "$C" -uroot`,
        readyScript: `${withPw}A=$(command -v mariadb-admin || command -v mysqladmin) && exec "$A" -uroot ping`,
      }
    }
    case 'postgres': {
      const pw = credentialVar(service, project, ['POSTGRES_PASSWORD'], false)
      const withPw = pw ? `export PGPASSWORD="$${pw}"; ` : ''
      const user = '-U "${POSTGRES_USER:-postgres}"'
      return {
        service: service.name,
        engine,
        dumpDir,
        dumpFile: `bk-dump-${service.name}.sql.gz`,
        gzip: true,
        dumpScript: `${withPw}exec pg_dumpall ${user} --clean --if-exists`,
        loadScript: `${withPw}exec psql -q ${user} -d postgres`,
        readyScript: `exec pg_isready ${user}`,
      }
    }
    case 'influxdb1':
      return {
        service: service.name,
        engine,
        dumpDir,
        dumpFile: `bk-dump-${service.name}.influx.tar`,
        gzip: false,
        dumpScript:
          'set -e; D=/tmp/bk-influx-dump; rm -rf "$D"; influxd backup -portable "$D" >&2; tar -C "$D" -cf - .; rm -rf "$D"',
        loadScript:
          'set -e; D=/tmp/bk-influx-load; rm -rf "$D"; mkdir -p "$D"; tar -C "$D" -xf -; influxd restore -portable "$D" >&2; rm -rf "$D"',
        readyScript: 'exec influx -execute "SHOW DATABASES"',
      }
    case 'influxdb2': {
      const token = credentialVar(service, project, ['DOCKER_INFLUXDB_INIT_ADMIN_TOKEN'], false)
      const withToken = token ? `export INFLUX_TOKEN="$${token}"; ` : ''
      return {
        service: service.name,
        engine,
        dumpDir,
        dumpFile: `bk-dump-${service.name}.influx.tar`,
        gzip: false,
        dumpScript: `set -e; ${withToken}D=/tmp/bk-influx-dump; rm -rf "$D"; influx backup "$D" >&2; tar -C "$D" -cf - .; rm -rf "$D"`,
        loadScript: `set -e; ${withToken}D=/tmp/bk-influx-load; rm -rf "$D"; mkdir -p "$D"; tar -C "$D" -xf -; influx restore --full "$D" >&2; rm -rf "$D"`,
        readyScript: 'exec influx ping',
      }
    }
  }
}

/** The service's mapped dump folder when it lies under volumes/ (archived), else volumes/<service>/db_backup. */
function dumpDirOf(service: ComposeService): string {
  for (const bind of service.binds) {
    if (!BACKUP_MOUNTS.includes(bind.container.replace(/\/$/, ''))) continue
    const host = bind.host.replace(/^\.\//, '').replace(/\/$/, '')
    if (host.startsWith('volumes/') && !host.includes('..')) return host
  }
  return `volumes/${service.name}/db_backup`
}

/**
 * The first of `names` the service's environment sets; BkError when it is required and absent, or when its value
 * needs a variable `.env` does not set (the container could not have started with it).
 */
function credentialVar(
  service: ComposeService,
  project: ComposeProject,
  names: string[],
  required: boolean,
): string | undefined {
  for (const name of names) {
    const raw = service.environment[name]
    if (raw === undefined) continue
    const {value, missing} = interpolate(raw, project.variables)
    if (missing.length > 0) {
      throw new BkError(
        `service ${service.name}: ${name} needs ${missing.join(', ')}, which .env does not set; add it to .env and retry`,
      )
    }
    if (value === '' && required) {
      throw new BkError(`service ${service.name}: ${name} is empty; bk needs it to dump the database`)
    }
    return name
  }
  if (required) {
    throw new BkError(
      `service ${service.name}: none of ${names.join(', ')} is in its environment; bk needs it to dump the database`,
    )
  }
  return undefined
}

/** Required variables (`${X:?…}`) anywhere in the services' environments that the stack's `.env` does not set. */
export function missingRequiredVariables(project: ComposeProject): string[] {
  const missing = new Set<string>()
  for (const service of project.services) {
    for (const raw of Object.values(service.environment)) {
      for (const name of interpolate(raw, project.variables).missing) missing.add(name)
    }
  }
  return [...missing].sort()
}
