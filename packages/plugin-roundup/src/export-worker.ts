/**
 * The thread of ExportThread (export-thread.ts): its own read-only connection to the tracker's sqlite database, its
 * read transaction begun at once (the main thread checks it is the export's snapshot), then the parts it is sent.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {messageOf} from '@bkcli/core/errors'
import {exportPart, type PartJob} from './export.js'
import type {WorkerReply} from './export-thread.js'
import {openSqlite, type SqlConn, scanCache} from './tracker-db.js'

const {path} = workerData as {path: string}
const port = parentPort as NonNullable<typeof parentPort>
const reply = (m: WorkerReply) => port.postMessage(m)

let conn: SqlConn | undefined
try {
  // a short wait for a lock (a rollback-journal database with a writer about to commit): the main thread is not
  // waiting for this one, it exports alone meanwhile
  conn = await openSqlite(path, {readonly: true, busyTimeout: 1000})
  await scanCache(conn)
  await conn.begin(true)
  reply({ready: true})
} catch (error) {
  reply({unusable: messageOf(error)})
  await conn?.close().catch(() => {})
  port.close()
}

port.on('message', async (m: {job: PartJob}) => {
  try {
    reply({result: await exportPart(conn as SqlConn, m.job)})
  } catch (error) {
    reply({error: messageOf(error)})
  }
})
