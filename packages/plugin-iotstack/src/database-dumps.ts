import {createReadStream, createWriteStream} from 'node:fs'
import {lstat, mkdir, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip, createGzip} from 'node:zlib'
import {BkError} from '@bkcli/core/errors'
import {atomicFile} from '@bkcli/core/safety'
import type {DatabaseService} from './database-services.js'
import type {ComposeDriver} from './docker-compose.js'

/**
 * Consistent dumps of the stack's databases taken inside their running containers (`docker compose exec -T`),
 * streamed to the service's dump folder (gzipped on the host for SQL), written atomically and 0600; and the way
 * back: each dump streamed into the engine's client in its container.
 */
export interface DumpResult {
  service: string
  engine: DatabaseService['engine']
  /** Relative to the stack. */
  file: string
  bytes: number
}

export async function dumpDatabases(
  stackDir: string,
  dbs: DatabaseService[],
  driver: ComposeDriver,
): Promise<DumpResult[]> {
  const results: DumpResult[] = []
  for (const db of dbs) {
    const dir = join(stackDir, db.dumpDir)
    await mkdir(dir, {recursive: true, mode: 0o700})
    const rel = `${db.dumpDir}/${db.dumpFile}`
    const dest = join(stackDir, rel)
    try {
      await atomicFile(
        dest,
        async (tmp) => {
          await driver.exec(db.service, db.dumpScript, {
            output: (stdout) =>
              db.gzip
                ? pipeline(stdout, createGzip(), createWriteStream(tmp, {mode: 0o600}))
                : pipeline(stdout, createWriteStream(tmp, {mode: 0o600})),
          })
        },
        {mode: 0o600, overwrite: true},
      )
    } catch (error) {
      throw new BkError(`dump of ${db.service} (${db.engine}) failed: ${(error as Error).message}`, {cause: error})
    }
    const bytes = (await stat(dest)).size
    if (bytes === 0) throw new BkError(`dump of ${db.service} is empty; is the container healthy?`)
    results.push({service: db.service, engine: db.engine, file: rel, bytes})
  }
  return results
}

export interface LoadResult {
  service: string
  engine: DatabaseService['engine']
  file: string
  bytes: number
}

/** The dumps that exist in the (restored) stack for these services. */
export async function presentDumps(stackDir: string, dbs: DatabaseService[]): Promise<DatabaseService[]> {
  const present: DatabaseService[] = []
  for (const db of dbs) {
    const st = await lstat(join(stackDir, db.dumpDir, db.dumpFile)).catch(() => undefined)
    if (st?.isFile()) present.push(db)
  }
  return present
}

/**
 * Loads each service's dump into its container: starts the service, waits until it answers (`readyScript`,
 * every `intervalMs` up to `timeoutMs`), then streams the dump into the client.
 */
export async function loadDatabaseDumps(
  stackDir: string,
  dbs: DatabaseService[],
  driver: ComposeDriver,
  options: {timeoutMs?: number; intervalMs?: number} = {},
): Promise<LoadResult[]> {
  const results: LoadResult[] = []
  for (const db of dbs) {
    const rel = `${db.dumpDir}/${db.dumpFile}`
    const file = join(stackDir, rel)
    await driver.up([db.service])
    await waitReady(db, driver, options)
    const source: Readable = db.gzip ? createReadStream(file).pipe(createGunzip()) : createReadStream(file)
    try {
      await driver.exec(db.service, db.loadScript, {input: source})
    } catch (error) {
      throw new BkError(`loading ${rel} into ${db.service} failed: ${(error as Error).message}`, {cause: error})
    }
    results.push({service: db.service, engine: db.engine, file: rel, bytes: (await stat(file)).size})
  }
  return results
}

async function waitReady(
  db: DatabaseService,
  driver: ComposeDriver,
  options: {timeoutMs?: number; intervalMs?: number},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  const interval = options.intervalMs ?? 2000
  for (;;) {
    try {
      await driver.exec(db.service, db.readyScript)
      return
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new BkError(`${db.service} did not become ready to load its dump: ${(error as Error).message}`)
      }
      await new Promise((resolve) => setTimeout(resolve, interval))
    }
  }
}
