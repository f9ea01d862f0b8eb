/**
 * `bk roundup verify <backup>`: every file against the manifest, then the database snapshot itself — sqlite
 * integrity_check and its stored schema against the backup's schema.py; a PostgreSQL/MySQL dump must be complete.
 */

import {readFileSync} from 'node:fs'
import {mkdtemp, open, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {extractArchive} from '@bkcli/core/archive'
import {sqliteIntegrityCheck} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {readManifest, verifyManifest} from '@bkcli/core/manifest'
import {readStoredSchemaText} from './dbschema.js'
import {parseSchemaPy, parseStoredSchema, schemaDifferences} from './schema.js'
import {openSqlite} from './tracker-db.js'

export interface VerifyResult {
  backup: string
  ok: boolean
  checked: number
  backend?: string
  schemaVersion?: number
  problems: string[]
}

async function tail(file: string, bytes = 4096): Promise<string> {
  const size = (await stat(file)).size
  const h = await open(file, 'r')
  try {
    const buf = Buffer.alloc(Math.min(bytes, size))
    await h.read(buf, 0, buf.length, size - buf.length)
    return buf.toString('utf8')
  } finally {
    await h.close()
  }
}

export async function verifyBackup(backupArg: string): Promise<VerifyResult> {
  const backup = resolve(backupArg)
  const manifest = await readManifest(backup)
  if (manifest.application !== 'roundup')
    throw new BkError(`${backupArg} is a ${manifest.application} backup, not a Roundup one`)
  const problems: string[] = []
  const check = await verifyManifest(backup)
  for (const f of check.changed) problems.push(`${f} differs from the manifest`)
  for (const f of check.missing) problems.push(`${f} is missing`)
  const extra = (manifest.extra ?? {}) as {backend?: string; schemaVersion?: number}
  const scratch = await mkdtemp(join(tmpdir(), 'bk-roundup-verify-'))
  try {
    await extractArchive({
      file: backup,
      target: scratch,
      filter: (p) => p === 'home' || p === 'home/schema.py' || p === 'database' || p.startsWith('database/'),
    })
    if (extra.backend === 'sqlite') {
      const db = join(scratch, 'database', 'db')
      const errors = await sqliteIntegrityCheck(db)
      for (const e of errors) problems.push(`database/db: ${e}`)
      const conn = await openSqlite(db, {readonly: true})
      let stored: string
      try {
        stored = await readStoredSchemaText(conn)
      } finally {
        await conn.close()
      }
      try {
        const diff = schemaDifferences(
          parseSchemaPy(readFileSync(join(scratch, 'home', 'schema.py'), 'utf8')),
          parseStoredSchema(stored),
          'schema.py',
          'the database',
        )
        for (const d of diff) problems.push(d)
      } catch (error) {
        problems.push(`schema check: ${(error as Error).message}`)
      }
    } else {
      const end = await tail(join(scratch, 'database', 'dump.sql'))
      const complete = extra.backend === 'postgresql' ? /PostgreSQL database dump complete/ : /-- Dump completed/
      if (!complete.test(end)) problems.push('database/dump.sql is not a complete dump')
    }
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
  return {
    backup,
    ok: problems.length === 0,
    checked: check.checked,
    backend: extra.backend,
    schemaVersion: extra.schemaVersion,
    problems,
  }
}
