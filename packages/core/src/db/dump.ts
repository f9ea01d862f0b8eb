import {open, stat} from 'node:fs/promises'
import type {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGzip} from 'node:zlib'
import {BkError, messageOf} from '../errors.js'
import {fileSink} from '../fs/write-all.js'
import {atomicFile} from '../safety/index.js'
import {progressOutput, stepProgress} from '../ui/progress.js'
import {startClient} from './run-client.js'
import {byteCounter, stripDefinerFilter} from './sql-stream.js'
import {pgDbnameArg, type SecretChannel} from './tools.js'
import {type DbTarget, describeServer} from './url.js'

/** How to dump: compression, schema, extra client arguments, file mode, progress. */
export interface DumpOptions {
  /** gzip the dump (true = level 6, or a level 1-9) through a zlib stream. */
  gzip?: boolean | number
  /** mysqldump `--single-transaction --quick` (default true): one consistent snapshot, no LOCK TABLES. */
  singleTransaction?: boolean
  /** mysqldump `--routines` (stored procedures and functions). */
  routines?: boolean
  /** mysqldump triggers (default true, as mysqldump). */
  triggers?: boolean
  /** mysqldump `--events`. */
  events?: boolean
  /** Remove `DEFINER=…` clauses (mysql), so the dump loads under another account. */
  stripDefiner?: boolean
  /** Include the statements that create the database (pg_dump `-C`, mysqldump `--databases`). */
  createDatabase?: boolean
  /** postgres: dump only this schema (`-n`); default the URL's `?schema=`. */
  schema?: string
  /** More arguments for the dump tool, before the database name (e.g. Trac's `--inserts -x`). */
  extraArgs?: string[]
  /** The dump program (e.g. Trac's `[trac] pg_dump_path`), a path or a name on PATH. */
  clientPath?: string
  /** File mode (default 0600: a dump holds the application's data, password hashes included). */
  mode?: number
  /** Replace an existing file at `file` (default true); false: an existing file is a BkError. */
  overwrite?: boolean
  /** Bytes of SQL produced so far (before compression). */
  onProgress?: (bytes: number) => void
  /** mysql: pass the options file on fd 3 (default) or in a 0600 temp file removed afterwards. */
  secretChannel?: SecretChannel
  /** Called with the client's pid once it runs. */
  onSpawn?: (pid: number) => void
}

/** The dump written: its file, size, the tool that made it and whether it is gzipped. */
export interface DumpResult {
  file: string
  /** Size of the written file. */
  bytes: number
  tool: 'pg_dump' | 'mysqldump'
  compressed: boolean
}

/**
 * Dump a PostgreSQL or MySQL/MariaDB database with pg_dump / mysqldump into `file` (plain SQL, gzipped when asked).
 * The file appears complete or not at all (temp beside it, renamed at the end); a failed dump leaves nothing.
 */
export async function dumpDatabase(target: DbTarget, file: string, options: DumpOptions = {}): Promise<DumpResult> {
  if (target.engine === 'sqlite') {
    throw new BkError('dumpDatabase is for PostgreSQL and MySQL/MariaDB; copy SQLite with sqliteBackup', {
      code: 'EDBENGINE',
    })
  }
  const database = target.database
  if (!database)
    throw new BkError(`no database to dump: the URL for ${describeServer(target)} names none`, {code: 'EDBMISSING'})
  const tool = target.engine === 'postgres' ? 'pg_dump' : 'mysqldump'
  const args = target.engine === 'postgres' ? pgDumpArgs(target, database, options) : mysqldumpArgs(database, options)

  const transforms: Transform[] = []
  // The step shows on the terminal / --progress=json when the command turned progress on (counting needs the pipe).
  const step = stepProgress(`dumping ${database}`)
  if (options.onProgress || progressOutput() !== 'off') {
    transforms.push(
      byteCounter((bytes) => {
        options.onProgress?.(bytes)
        step.update(bytes)
      }),
    )
  }
  if (options.stripDefiner && target.engine === 'mysql') transforms.push(stripDefinerFilter())
  const level = options.gzip === true ? 6 : typeof options.gzip === 'number' ? options.gzip : 0
  if (level > 0) transforms.push(createGzip({level}))

  const mode = options.mode ?? 0o600
  await atomicFile(
    file,
    async (tmp) => {
      const handle = await open(tmp, 'r+')
      try {
        const direct = transforms.length === 0
        const run = await startClient({
          tool,
          target,
          args,
          clientPath: options.clientPath,
          stdin: 'ignore',
          stdout: direct ? handle.fd : 'pipe',
          secretChannel: options.secretChannel,
          onSpawn: options.onSpawn,
        })
        if (direct) {
          await run.finish(`dumping ${database} from ${describeServer(target)}`, database)
        } else {
          const out = fileSink(handle)
          // a write that fails (a full disk) cuts the pipe: the client then dies of it, and its failure (a broken
          // pipe) would hide the one to tell
          let writeFailed = false
          out.once('error', () => {
            writeFailed = true
          })
          const copying = pipeline([run.subprocess.stdout!, ...transforms, out] as unknown as NodeJS.ReadWriteStream[])
          const [copied, finished] = await Promise.allSettled([
            copying,
            run.finish(`dumping ${database} from ${describeServer(target)}`, database),
          ])
          if (finished.status === 'rejected' && !writeFailed) throw finished.reason
          if (copied.status === 'rejected') {
            const full = (copied.reason as NodeJS.ErrnoException).code === 'ENOSPC'
            throw new BkError(
              full
                ? `no space left writing the dump ${file}; nothing was written, free some space and run it again`
                : `cannot write the dump ${file}: ${messageOf(copied.reason)}`,
              {code: 'EDUMPWRITE', cause: copied.reason},
            )
          }
          if (finished.status === 'rejected') throw finished.reason
        }
      } finally {
        await handle.close()
        step.done()
      }
    },
    {mode, overwrite: options.overwrite ?? true},
  )
  return {file, bytes: (await stat(file)).size, tool, compressed: level > 0}
}

export function pgDumpArgs(target: DbTarget, database: string, options: DumpOptions): string[] {
  const args = ['--format=plain', '--encoding=UTF8']
  if (options.createDatabase) args.push('--create')
  const schema = options.schema ?? target.params.schema
  // A quoted pattern matches exactly this schema (case and spaces kept; Trac left an embedded '"' unescaped).
  if (schema) args.push(`--schema="${schema.replace(/"/g, '""')}"`)
  args.push(...(options.extraArgs ?? []), pgDbnameArg(database))
  return args
}

export function mysqldumpArgs(database: string, options: DumpOptions): string[] {
  const args = ['--default-character-set=utf8mb4']
  // --single-transaction: a consistent snapshot without LOCK TABLES (which deadlocked Trac's own hotcopy).
  if (options.singleTransaction ?? true) args.push('--single-transaction', '--quick', '--skip-lock-tables')
  if (options.routines) args.push('--routines')
  if (options.events) args.push('--events')
  if (options.triggers === false) args.push('--skip-triggers')
  args.push(...(options.extraArgs ?? []))
  if (options.createDatabase) args.push('--databases')
  args.push('--', database)
  return args
}
