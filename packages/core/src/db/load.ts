import {randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {Readable, Transform, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import type {ResultPromise} from 'execa'
import {BkError, messageOf} from '../errors.js'
import {endInput} from '../process/end-input.js'
import {progressOutput, stepProgress} from '../ui/progress.js'
import {createDumpGuard, type DumpGuard} from './dump-guard.js'
import {startClient} from './run-client.js'
import {byteCounter, type CreateStatements, createStatementsFilter} from './sql-stream.js'
import {pgDbnameArg, type SecretChannel} from './tools.js'
import {type DbTarget, describeServer} from './url.js'

/** Errors of writing to a client that has exited. */
const CLIENT_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE'])

/** How to load a dump: error handling, CREATE DATABASE statements, transaction, progress. */
export interface LoadOptions {
  /** The client program (psql / mysql), a path or a name on PATH. */
  clientPath?: string
  /** 'stop' (default): the first error aborts (psql ON_ERROR_STOP; mysql stops); 'continue': psql/mysql --force. */
  onError?: 'stop' | 'continue'
  /**
   * The dump's own CREATE DATABASE / \connect / USE statements (pg_dump -C, mysqldump --databases):
   * 'skip' (default) loads into `target.database`, which must exist; 'rewrite' lets the dump create
   * `target.database` itself; 'keep' runs them as they are.
   */
  createStatements?: CreateStatements
  /**
   * psql: load in one transaction that bk commits only after the dump's last byte was read (default true, except
   * when the dump creates its database: it cannot run in one).
   */
  singleTransaction?: boolean
  /**
   * How messages name the dump, when `file` is a scratch copy (extracted from a backup, rewritten): the user must
   * be able to find it. Default: `file`.
   */
  dumpName?: string
  /** More arguments for the client. */
  extraArgs?: string[]
  /** Bytes of the file read so far, and its size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void
  secretChannel?: SecretChannel
  onSpawn?: (pid: number) => void
}

/**
 * Load a plain SQL dump (`.sql`, or gzip-compressed — detected from its first bytes) into a database with psql /
 * mysql, streaming the file into the client's stdin.
 */
export async function loadDump(target: DbTarget, file: string, options: LoadOptions = {}): Promise<void> {
  if (target.engine === 'sqlite') throw new BkError('loadDump is for PostgreSQL and MySQL/MariaDB', {code: 'EDBENGINE'})
  const database = target.database
  if (!database) {
    throw new BkError(`no database to load into: the URL for ${describeServer(target)} names none`, {
      code: 'EDBMISSING',
    })
  }
  const dumpName = options.dumpName ?? file
  const unreadable = (error: unknown) =>
    new BkError(`cannot read the dump ${file}: ${messageOf(error)}`, {code: 'ENOENT', cause: error})
  const info = await stat(file).catch((error) => {
    throw unreadable(error)
  })
  const size = info.size
  const mode = options.createStatements ?? 'skip'
  const stop = (options.onError ?? 'stop') === 'stop'
  // psql's --single-transaction COMMITs whatever it read when its input stops early (a `\q`, the end of the file
  // inside a COPY block): bk opens the transaction itself and puts the COMMIT after the dump's last byte.
  const transaction = target.engine === 'postgres' && stop && (options.singleTransaction ?? mode === 'skip')
  // Without a transaction to roll back, a refused command must be found before the client runs anything: read the
  // dump once more first (a pipe cannot be read twice: there, the guard stops the feed at the command's line).
  // The feed then needs no second look: the client's read of it is proven by the end-of-input line.
  const prescanned = !transaction && info.isFile() ? await prescan(target.engine, file, dumpName, database) : undefined
  const {raw: source, decode} = await openDump(file).catch((error) => {
    throw unreadable(error)
  })
  // it reads ahead while the client starts: a read error then (a failing disk) is the feed's to report, once it
  // starts (the pipeline sees a stream that failed), not an uncaught one
  source.on('error', () => {})
  let tool: 'psql' | 'mysql'
  let args: string[]
  if (target.engine === 'postgres') {
    tool = 'psql'
    // With 'rewrite'/'keep' the dump creates the database and \connects to it: start from the maintenance database.
    const connectTo = mode === 'skip' ? database : (target.params.maintenance_db ?? 'postgres')
    args = ['-X', '-q', '-v', `ON_ERROR_STOP=${stop ? 1 : 0}`]
    args.push(...(options.extraArgs ?? []), pgDbnameArg(connectTo))
  } else {
    tool = 'mysql'
    // --local-infile=0: a LOAD DATA LOCAL INFILE in the dump must not read the restoring machine's files
    args = ['--default-character-set=utf8mb4', '--batch', '--local-infile=0']
    if (!stop) args.push('--force')
    args.push(...(options.extraArgs ?? []))
    if (mode === 'skip') args.push(`--database=${database}`)
  }

  const transforms: Transform[] = []
  const step = stepProgress(`loading ${database}`, {total: size || undefined}) // a pipe has no size
  if (options.onProgress || progressOutput() !== 'off') {
    transforms.push(
      byteCounter((bytes) => {
        options.onProgress?.(bytes, size)
        step.update(bytes)
      }),
    )
  }
  transforms.push(...decode)
  const guard = prescanned ?? createDumpGuard(target.engine, dumpName)
  const nonce = `bk-end-${randomBytes(12).toString('hex')}`
  if (!prescanned) transforms.push(guard.filter)
  transforms.push(
    createStatementsFilter(target.engine, mode, database),
    framed(transaction ? 'BEGIN;\n' : '', endOfInput(transaction, nonce)),
  )

  const run = await startClient({
    tool,
    target,
    args,
    clientPath: options.clientPath,
    stdin: 'pipe',
    stdout: 'pipe',
    secretChannel: options.secretChannel,
    onSpawn: options.onSpawn,
  }).catch((error) => {
    source.destroy()
    throw error
  })
  const output = outputTail(run.subprocess)
  const feeding = pipeline([source, ...transforms, intoClient(run.subprocess)] as unknown as NodeJS.ReadWriteStream[])
  const [fed, finished] = await Promise.allSettled([
    feeding,
    run.finish(`loading ${file} into ${database} on ${describeServer(target)}`, database),
  ])
  step.done()
  const feedError = fed.status === 'rejected' ? (fed.reason as {code?: string}) : undefined
  // The client's own error explains its stdin going away (EPIPE, or a stdin already destroyed when it exited first:
  // which one is a race) better; anything else on our side comes first.
  if (feedError && (feedError as BkError).code === 'EDUMPCOMMAND') {
    throw new BkError(`${(feedError as BkError).message}; ${loadedBefore(target.engine, transaction, database)}`, {
      code: 'EDUMPCOMMAND',
    })
  }
  if (finished.status === 'rejected' && (!feedError || CLIENT_GONE.has(feedError.code ?? ''))) throw finished.reason
  if (feedError) {
    const corrupt = feedError.code === 'Z_DATA_ERROR' || feedError.code === 'Z_BUF_ERROR'
    throw new BkError(
      corrupt
        ? `the dump ${file} is corrupt or truncated (gzip: ${messageOf(feedError)}); nothing was committed${target.engine === 'mysql' ? ' after the point it broke off' : ''}`
        : `cannot feed ${file} to ${tool}: ${messageOf(feedError)}`,
      {code: corrupt ? 'ECORRUPT' : 'EDBLOAD', cause: feedError},
    )
  }
  if (finished.status === 'rejected') throw finished.reason
  if (!output.hasLine(nonce)) throw stoppedEarly(tool, dumpName, database, guard, transaction)
}

/**
 * What bk feeds after the dump's last byte: a SELECT of a value only this load knows (SQL, not psql's `\echo`: a dump
 * cut short inside pg_dump's `\restrict` would refuse a meta-command), then, in bk's transaction, the COMMIT. The
 * value printed proves the client read to here; an ON_ERROR_STOP on the COMMIT fails the load by its exit status.
 */
function endOfInput(transaction: boolean, nonce: string): string {
  // a newline first: the dump's last line may lack one
  return `\nSELECT '${nonce}' AS bk_end;\n${transaction ? 'COMMIT;\n' : ''}`
}

/** What a refused dump left in the database (a pipe, loaded without a transaction: the part before the command). */
function loadedBefore(engine: 'postgres' | 'mysql', transaction: boolean, database: string): string {
  const client = engine === 'postgres' ? 'psql' : 'mysql'
  const state = transaction
    ? 'nothing was committed'
    : `${database} may hold part of what ${client} ran before that line`
  return `${state} — ${FIX}`
}

const FIX = 'inspect the dump, and remove that line if you trust it'

/** Run the dump through the guard alone, before any client starts: a refused command means nothing was loaded. */
async function prescan(
  engine: 'postgres' | 'mysql',
  file: string,
  dumpName: string,
  database: string,
): Promise<DumpGuard | undefined> {
  const guard = createDumpGuard(engine, dumpName)
  const discard = new Writable({write: (_chunk, _encoding, callback) => callback()})
  let failed = false
  const scanned = openDump(file).then(({raw, decode}) =>
    pipeline([raw, ...decode, guard.filter, discard] as unknown as NodeJS.ReadWriteStream[]),
  )
  await scanned.catch((error) => {
    if ((error as BkError).code === 'EDUMPCOMMAND') {
      throw new BkError(`${(error as BkError).message}; nothing was loaded into ${database} — ${FIX}`, {
        code: 'EDUMPCOMMAND',
      })
    }
    // a read or gzip error: the load itself reports it, the way it always has
    failed = true
  })
  return failed ? undefined : guard
}

function stoppedEarly(
  tool: 'psql' | 'mysql',
  file: string,
  database: string,
  guard: DumpGuard,
  transaction: boolean,
): BkError {
  const open = guard.openAtEnd()
  const why = open
    ? `it ends inside ${open}`
    : tool === 'psql'
      ? 'a \\q in it, or it ends inside a COPY block or a quoted string'
      : 'a quit in it, or it ends inside a quoted string'
  const state = transaction
    ? 'nothing was committed'
    : `${database} holds only what ${tool} ran before it stopped — load a complete dump into an empty database`
  return new BkError(`${tool} stopped reading ${file} before its end (${why}); ${state}`, {code: 'EDUMPEARLY'})
}

/** `before` ahead of the stream's bytes and `after` behind them. */
function framed(before: string, after: string): Transform {
  let started = false
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!started && before) this.push(before)
      started = true
      callback(null, chunk)
    },
    flush(callback) {
      if (!started && before) this.push(before)
      callback(null, after)
    },
  })
}

/** The client's stdout, drained as it comes (a dump's SELECTs print), keeping only its last bytes. */
function outputTail(subprocess: ResultPromise): {hasLine(line: string): boolean} {
  const KEEP = 4096
  let tail = Buffer.alloc(0)
  subprocess.stdout?.on('data', (chunk: Buffer) => {
    // a copy of at most KEEP bytes: holding a slice would hold its whole chunk
    const joined = chunk.length >= KEEP ? chunk.subarray(chunk.length - KEEP) : Buffer.concat([tail, chunk])
    tail = Buffer.from(joined.subarray(Math.max(0, joined.length - KEEP)))
  })
  return {
    hasLine: (line) =>
      tail
        .toString('latin1')
        .split('\n')
        .some((printed) => printed.trim() === line),
  }
}

/**
 * The client's stdin as the end of the pipeline. If reading or decompressing the dump fails, the client is killed
 * before it sees end-of-input: an EOF would make psql COMMIT the part it had received.
 */
function intoClient(subprocess: ResultPromise): Writable {
  const stdin = subprocess.stdin!
  stdin.on('error', () => {}) // reported through the write callbacks and the client's exit
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stdin.write(chunk, (error) => callback(error ?? undefined))
    },
    final(callback) {
      endInput(stdin, () => callback())
    },
    destroy(error, callback) {
      if (error) subprocess.kill('SIGKILL')
      callback(error)
    },
  })
}

/**
 * The dump's bytes as read from `file` (what progress counts), and what turns them into SQL: a gunzip when its first
 * bytes say gzip, nothing otherwise. Shared by the prescan and the feed, so both read the dump the same way.
 */
async function openDump(file: string): Promise<{raw: Readable; decode: Transform[]}> {
  const reading = createReadStream(file)
  const {head, stream} = await peek(reading, 2).catch((error) => {
    reading.destroy()
    throw error
  })
  return {raw: stream, decode: head[0] === 0x1f && head[1] === 0x8b ? [createGunzip()] : []}
}

/**
 * The first `count` bytes of `stream` (fewer at its end), and the stream to read instead: `stream` with them put back,
 * or, when it ended first (a stream takes nothing back after its end), a stream of them. The dump's format is sniffed
 * from the bytes that are fed, so a pipe, which cannot be read twice, works too.
 */
function peek(stream: Readable, count: number): Promise<{head: Buffer; stream: Readable}> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let length = 0
    const onReadable = () => {
      while (length < count) {
        const chunk = stream.read() as Buffer | null
        if (chunk === null) break
        parts.push(chunk)
        length += chunk.length
      }
      if (length >= count) settle()
    }
    const settle = (error?: Error) => {
      stream.off('readable', onReadable)
      stream.off('end', settle)
      stream.off('error', settle)
      if (error) return reject(error)
      const head = Buffer.concat(parts)
      if (stream.readableEnded) return resolve({head, stream: Readable.from([head], {objectMode: false})})
      if (head.length > 0) stream.unshift(head)
      resolve({head, stream})
    }
    stream.on('readable', onReadable)
    stream.once('end', settle)
    stream.once('error', settle)
  })
}
