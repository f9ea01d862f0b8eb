import {createHash} from 'node:crypto'
import {existsSync, lstatSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'
import {execa} from 'execa'

/**
 * A fingerprint of everything a command could change: each path's tree (type, mode, owner, size, mtime,
 * content hash, link target) and each database's full dump. Two equal fingerprints mean nothing changed.
 */
export interface StateSpec {
  paths?: string[]
  postgres?: string[]
  mysql?: string[]
}

export async function fingerprint(spec: StateSpec): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const root of spec.paths ?? []) walk(root, root, out)
  for (const db of spec.postgres ?? []) {
    const dump = await execa('pg_dump', ['-h', '127.0.0.1', '-U', 'root', '--no-owner', db], {reject: false})
    out[`postgres:${db}`] = digest(`${dump.exitCode}\n${dump.stdout}`)
  }
  for (const db of spec.mysql ?? []) {
    const dump = await execa('mysqldump', ['-h', '127.0.0.1', '-u', 'root', '--skip-dump-date', db], {reject: false})
    out[`mysql:${db}`] = digest(`${dump.exitCode}\n${dump.stdout}`)
  }
  return out
}

function digest(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex')
}

function walk(root: string, path: string, out: Record<string, string>): void {
  if (!existsSync(path) && !isLink(path)) {
    out[path] = 'absent'
    return
  }
  const st = lstatSync(path, {bigint: true})
  const head = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeNs}`
  if (st.isSymbolicLink()) {
    out[path] = `link ${head} -> ${readlinkSync(path)}`
  } else if (st.isDirectory()) {
    const names = readdirSync(path).sort()
    out[path] = `dir ${head} [${names.join('/')}]`
    for (const name of names) walk(root, join(path, name), out)
  } else if (st.isFile()) {
    out[path] = `file ${head} ${st.size} ${digest(readFileSync(path))}`
  } else {
    out[path] = `other ${head}`
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
