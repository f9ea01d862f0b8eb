/** Test helpers: fixture trackers pointed at their own, uniquely named databases on the real servers. */
import {execFileSync} from 'node:child_process'
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, fixturePath} from '@bkcli/testkit'

export const PG = {host: '127.0.0.1', port: 5432, user: 'root'}
export const MY = {host: '127.0.0.1', port: 3306, user: 'root'}

export function uniqueName(prefix = 'bkru'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`
}

export function psql(sql: string, db = 'postgres'): string {
  return execFileSync('psql', ['-h', PG.host, '-U', PG.user, '-d', db, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  })
}

export function mysqlq(sql: string, db?: string): string {
  const args = ['-h', MY.host, '-P', String(MY.port), '-u', MY.user, '-N', '-B', '-e', sql]
  if (db) args.push(db)
  return execFileSync('mysql', args, {encoding: 'utf8'})
}

export function createPgDb(name: string, dump?: string): void {
  psql(`CREATE DATABASE "${name}" WITH ENCODING='UNICODE' TEMPLATE=template0`)
  if (dump) {
    execFileSync('psql', ['-h', PG.host, '-U', PG.user, '-d', name, '-Xq', '-v', 'ON_ERROR_STOP=1', '-f', dump], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
  }
}

export function dropPgDb(name: string): void {
  psql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
}

export function createMyDb(name: string, dump?: string): void {
  mysqlq(`CREATE DATABASE \`${name}\` COLLATE utf8mb4_unicode_ci CHARACTER SET utf8mb4`)
  if (dump) {
    execFileSync('mysql', ['-h', MY.host, '-P', String(MY.port), '-u', MY.user, name], {
      input: readFileSync(dump),
      stdio: ['pipe', 'ignore', 'pipe'],
    })
  }
}

export function dropMyDb(name: string): void {
  mysqlq(`DROP DATABASE IF EXISTS \`${name}\``)
}

/** Point a tracker home's config.ini at another database name (and optionally backend). */
export function setRdbms(home: string, values: Record<string, string>): void {
  const file = join(home, 'config.ini')
  let text = readFileSync(file, 'utf8')
  const start = text.indexOf('\n[rdbms]')
  const end = text.indexOf('\n[', start + 1)
  let section = text.slice(start, end)
  for (const [k, v] of Object.entries(values)) {
    section = section.replace(new RegExp(`\\n${k} = [^\\n]*`), `\n${k} = ${v}`)
  }
  text = text.slice(0, start) + section + text.slice(end)
  writeFileSync(file, text)
}

/** Extract a fixture tree and return the path of its single top folder. */
export function fixtureTree(name: string): string {
  return join(extractFixture('roundup', name), name)
}

export function roundupFixture(...parts: string[]): string {
  return fixturePath('roundup', ...parts)
}

/** Every file under a directory, relative paths sorted. */
export function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name)
    const rel = prefix ? `${prefix}/${name}` : name
    if (statSync(abs).isDirectory()) out.push(...listFiles(abs, rel))
    else out.push(rel)
  }
  return out.sort()
}

/** Files that differ between two trees (missing on either side included). */
export function treeDifferences(a: string, b: string): string[] {
  const fa = listFiles(a)
  const fb = listFiles(b)
  const diff: string[] = []
  for (const f of new Set([...fa, ...fb])) {
    if (!fa.includes(f) || !fb.includes(f)) diff.push(`${f} (only in one)`)
    else if (!readFileSync(join(a, f)).equals(readFileSync(join(b, f)))) diff.push(f)
  }
  return diff
}

/** Sorted lines of every CSV, seconds rounded to milliseconds (the fixture README's comparison). */
export function normalisedCsv(dir: string, dropMillis = false): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const f of listFiles(dir).filter((x) => x.endsWith('.csv'))) {
    out[f] = readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) =>
        l.replace(/\((\d+), (\d+), (\d+), (\d+), (\d+), ([\d.]+), 0, 0, 0\)/g, (_m, y, mo, d, h, mi, s) => {
          const sec = dropMillis ? Math.floor(Number(s)) : Math.round(Number(s) * 1000) / 1000
          return `(${y}, ${mo}, ${d}, ${h}, ${mi}, ${sec}, 0, 0, 0)`
        }),
      )
      .sort()
  }
  return out
}

/** The previous homes kept beside `home` (`<home>.old-YYYY-MM-DD_HHMMSS[-N]`), oldest first. */
export function keptCopies(home: string): string[] {
  const dir = join(home, '..')
  const base = home.split('/').pop() as string
  return readdirSync(dir)
    .filter((n) => n.startsWith(`${base}.old-`))
    .sort((a, b) => statSync(join(dir, a)).ctimeMs - statSync(join(dir, b)).ctimeMs || a.localeCompare(b))
    .map((n) => join(dir, n))
}
