import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {Readable, type Transform, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import type {ResultPromise} from 'execa'
import {BkError, messageOf} from '../errors.js'
import {endInput} from '../process/end-input.js'
import {progressOutput, stepProgress} from '../ui/progress.js'
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
  /** psql `--single-transaction` (default true, except when the dump creates its database: it cannot run in one). */
  singleTransaction?: boolean
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
  const unreadable = (error: unknown) =>
    new BkError(`cannot read the dump ${file}: ${messageOf(error)}`, {code: 'ENOENT', cause: error})
  const size = await stat(file).then(
    (s) => s.size,
    (error) => {
      throw unreadable(error)
    },
  )
  const reading = createReadStream(file)
  const {head, stream: source} = await peek(reading, 2).catch((error) => {
    reading.destroy()
    throw unreadable(error)
  })
  // it reads ahead while the client starts: a read error then (a failing disk) is the feed's to report, once it
  // starts (the pipeline sees a stream that failed), not an uncaught one
  source.on('error', () => {})
  const mode = options.createStatements ?? 'skip'
  const stop = (options.onError ?? 'stop') === 'stop'
  let tool: 'psql' | 'mysql'
  let args: string[]
  if (target.engine === 'postgres') {
    tool = 'psql'
    // With 'rewrite'/'keep' the dump creates the database and \connects to it: start from the maintenance database.
    const connectTo = mode === 'skip' ? database : (target.params.maintenance_db ?? 'postgres')
    args = ['-X', '-q', '-v', `ON_ERROR_STOP=${stop ? 1 : 0}`]
    if ((options.singleTransaction ?? mode === 'skip') && stop) args.push('--single-transaction')
    args.push(...(options.extraArgs ?? []), pgDbnameArg(connectTo))
  } else {
    tool = 'mysql'
    args = ['--default-character-set=utf8mb4', '--batch']
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
  if (head[0] === 0x1f && head[1] === 0x8b) transforms.push(createGunzip())
  transforms.push(createStatementsFilter(target.engine, mode, database))

  const run = await startClient({
    tool,
    target,
    args,
    clientPath: options.clientPath,
    stdin: 'pipe',
    stdout: 'ignore',
    secretChannel: options.secretChannel,
    onSpawn: options.onSpawn,
  }).catch((error) => {
    source.destroy()
    throw error
  })
  const feeding = pipeline([source, ...transforms, intoClient(run.subprocess)] as unknown as NodeJS.ReadWriteStream[])
  const [fed, finished] = await Promise.allSettled([
    feeding,
    run.finish(`loading ${file} into ${database} on ${describeServer(target)}`, database),
  ])
  step.done()
  const feedError = fed.status === 'rejected' ? (fed.reason as {code?: string}) : undefined
  // The client's own error explains its stdin going away (EPIPE, or a stdin already destroyed when it exited first:
  // which one is a race) better; anything else on our side comes first.
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
