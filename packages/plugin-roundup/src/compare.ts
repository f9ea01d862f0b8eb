/**
 * Comparing two exports the way the fixture README does: every CSV's lines sorted, date seconds rounded to
 * milliseconds (PostgreSQL's float noise) or cut to whole seconds (MySQL keeps none).
 */
import {createReadStream} from 'node:fs'
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

export async function listFilesSorted(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, {withFileTypes: true})) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name
    if (e.isDirectory()) out.push(...(await listFilesSorted(join(dir, e.name), rel)))
    else out.push(rel)
  }
  return out.sort()
}

const DATE = /\((\d+), (\d+), (\d+), (\d+), (\d+), ([\d.e+-]+), 0, 0, 0\)/g

export function normaliseLine(line: string, dropMillis: boolean): string {
  return line.replace(DATE, (_m, y, mo, d, h, mi, s) => {
    const n = Number(s)
    const sec = dropMillis ? Math.floor(n) : Math.round(n * 1000) / 1000
    return `(${y}, ${mo}, ${d}, ${h}, ${mi}, ${sec}, 0, 0, 0)`
  })
}

/** CSV file → its lines, normalised and sorted. Loads one file at a time. */
export async function normalisedExport(dir: string, dropMillis: boolean): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const f of (await listFilesSorted(dir)).filter((x) => x.endsWith('.csv'))) {
    out[f] = (await readFile(join(dir, f), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => normaliseLine(l, dropMillis))
      .sort()
  }
  return out
}

async function normalisedFile(dir: string, f: string, dropMillis: boolean): Promise<string[]> {
  const text = await readFile(join(dir, f), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return ''
    throw error
  })
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => normaliseLine(l, dropMillis))
    .sort()
}

/** The non-empty lines of a file ('\n'-separated, as normalisedFile splits them), streamed; none if it is missing. */
async function* fileLines(file: string): AsyncGenerator<string> {
  let rest = ''
  try {
    for await (const chunk of createReadStream(file, {encoding: 'utf8', highWaterMark: 1 << 16})) {
      const parts = (rest + (chunk as string)).split('\n')
      rest = parts.pop() as string
      for (const line of parts) if (line !== '') yield line
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  if (rest !== '') yield rest
}

/** Whether two files have the same normalised lines in the same order, read side by side (constant memory). */
async function sameInOrder(a: string, b: string, dropMillis: boolean): Promise<boolean> {
  const x = fileLines(a)
  const y = fileLines(b)
  try {
    for (;;) {
      const [p, q] = await Promise.all([x.next(), y.next()])
      if (p.done || q.done) return Boolean(p.done && q.done)
      if (p.value !== q.value && normaliseLine(p.value, dropMillis) !== normaliseLine(q.value, dropMillis)) return false
    }
  } finally {
    await Promise.all([x.return(undefined), y.return(undefined)])
  }
}

/**
 * The first CSV whose normalised, sorted lines differ between two exports (a file missing on one side counts as
 * empty), and the line where they part; undefined when they are the same. Both exports list rows in the same
 * order almost always, so each file pair is first read side by side; only a pair that differs in order is
 * loaded and sorted (one pair at a time).
 */
export async function compareExports(
  a: string,
  b: string,
  dropMillis: boolean,
): Promise<{file: string; line: number} | undefined> {
  const csv = async (dir: string) => (await listFilesSorted(dir)).filter((x) => x.endsWith('.csv'))
  const files = [...new Set([...(await csv(a)), ...(await csv(b))])]
  for (const f of files) {
    if (await sameInOrder(join(a, f), join(b, f), dropMillis)) continue
    const [x, y] = await Promise.all([normalisedFile(a, f, dropMillis), normalisedFile(b, f, dropMillis)])
    const i = x.findIndex((line, k) => line !== y[k])
    if (x.length !== y.length || i >= 0) return {file: f, line: i >= 0 ? i + 1 : x.length}
  }
  return undefined
}
