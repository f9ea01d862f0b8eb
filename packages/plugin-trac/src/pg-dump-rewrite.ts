/**
 * trac-admin's PostgreSQL dump (`pg_dump -C --inserts -x -n "<schema>"`) creates and connects to its own
 * database and, with PostgreSQL 15, re-creates the `public` schema, so it cannot be loaded into a database
 * the restore made (under any name) as it is. This rewrites its pre-data header on the fly:
 * - drops `CREATE DATABASE`, `ALTER DATABASE … OWNER`, `\connect` (and the `\unrestrict`/`\restrict` pair
 *   around `\connect`), so the load goes into the database bk chose;
 * - `CREATE SCHEMA x` → `CREATE SCHEMA IF NOT EXISTS x`;
 * - drops `ALTER … OWNER TO role` (objects belong to the restoring user, who is the user Trac connects as;
 *   the dump's role may not exist on this server).
 * Only the pre-data part (before the first INSERT/COPY) is touched: data lines pass through unchanged, so a
 * wiki page quoting any of these lines is never altered. Also reports the dump's database_version.
 */
import {Transform, type TransformCallback} from 'node:stream'

export interface PgDumpInfo {
  /** The database the dump creates (`CREATE DATABASE <name>`). */
  createdDatabase?: string
  databaseVersion?: number
}

const versionRe = /^INSERT INTO (?:[\w"]+\.)?"?system"? VALUES \('database_version', '(\d+)'\);/

export class PgDumpRewriter extends Transform {
  readonly info: PgDumpInfo = {}
  private tail = ''
  private inData = false
  private pendingUnrestrict: string | undefined
  private dropNextRestrict = false

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.tail + chunk.toString('utf8')
    const lines = text.split('\n')
    this.tail = lines.pop() ?? ''
    const out: string[] = []
    for (const line of lines) this.line(line, out)
    if (out.length > 0) this.push(out.join('\n') + '\n')
    done()
  }

  override _flush(done: TransformCallback): void {
    const out: string[] = []
    if (this.tail) this.line(this.tail, out)
    if (this.pendingUnrestrict) out.push(this.pendingUnrestrict)
    if (out.length > 0) this.push(out.join('\n') + (this.tail ? '' : '\n'))
    done()
  }

  private line(line: string, out: string[]): void {
    if (this.inData) {
      if (this.info.databaseVersion === undefined && line.startsWith('INSERT INTO')) {
        const m = versionRe.exec(line)
        if (m) this.info.databaseVersion = Number(m[1])
      }
      out.push(line)
      return
    }
    if (this.pendingUnrestrict !== undefined) {
      const held = this.pendingUnrestrict
      this.pendingUnrestrict = undefined
      if (line.startsWith('\\connect ')) {
        this.dropNextRestrict = true
        return
      }
      out.push(held)
    }
    if (line.startsWith('\\unrestrict ')) {
      this.pendingUnrestrict = line
      return
    }
    if (line.startsWith('\\restrict ') && this.dropNextRestrict) {
      this.dropNextRestrict = false
      return
    }
    if (line.startsWith('\\connect ')) return
    const created = /^CREATE DATABASE ("(?:[^"]|"")+"|\S+)/.exec(line)
    if (created) {
      this.info.createdDatabase = created[1]!.replace(/^"|"$/g, '').replaceAll('""', '"')
      return
    }
    if (/^ALTER DATABASE .* OWNER TO /.test(line)) return
    if (/^ALTER .* OWNER TO .*;$/.test(line)) return
    if (line.startsWith('CREATE SCHEMA ') && !line.startsWith('CREATE SCHEMA IF NOT EXISTS ')) {
      out.push(line.replace('CREATE SCHEMA ', 'CREATE SCHEMA IF NOT EXISTS '))
      return
    }
    if (line.startsWith('INSERT INTO') || line.startsWith('COPY ')) {
      this.inData = true
      this.line(line, out)
      return
    }
    out.push(line)
  }
}
