import {createReadStream, createWriteStream} from 'node:fs'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {sitePathPattern} from '../drupal/rewrite-settings.js'
import {toByteString} from './serialized.js'
import {type LineRewriter, mysqlLineRewriter, postgresLineRewriter} from './sql-line.js'

export interface SitePathRewrite {
  fromUri: string
  toUri: string
  engine: 'mysql' | 'postgres'
}

/** A line rewriter that turns `sites/<fromUri>` into `sites/<toUri>` inside the dump's values. */
export function sitePathLineRewriter({fromUri, toUri, engine}: SitePathRewrite): LineRewriter {
  const needle = toByteString(`sites/${fromUri}`)
  const pattern = sitePathPattern(toByteString(fromUri))
  const target = toByteString(`sites/${toUri}`)
  const replace = (plain: string) => (plain.includes(needle) ? plain.replace(pattern, target) : plain)
  return engine === 'mysql' ? mysqlLineRewriter(needle, replace) : postgresLineRewriter(needle, replace)
}

/**
 * A Transform that feeds a dump through a line rewriter, one line at a time (binary-safe: lines are byte
 * strings), so a dump of any size is rewritten in constant memory. `stats.changed` counts rewritten values.
 */
export function lineRewriteStream(rewriter: LineRewriter): Transform & {stats: {lines: number; changed: number}} {
  let rest: Buffer = Buffer.alloc(0)
  const stats = {lines: 0, changed: 0}
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
      // unchanged lines are passed on as whole runs of the chunk; only a changed line is rebuilt
      let runStart = 0
      let lineStart = 0
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, lineStart)) {
        stats.lines++
        const {text, changed} = rewriter.line(data.toString('latin1', lineStart, nl))
        if (changed > 0) {
          stats.changed += changed
          if (lineStart > runStart) this.push(data.subarray(runStart, lineStart))
          this.push(Buffer.from(text, 'latin1'))
          runStart = nl
        }
        lineStart = nl + 1
      }
      if (lineStart > runStart) this.push(data.subarray(runStart, lineStart))
      rest = Buffer.from(data.subarray(lineStart))
      done()
    },
    flush(done) {
      if (rest.length > 0) {
        stats.lines++
        const {text, changed} = rewriter.line(rest.toString('latin1'))
        stats.changed += changed
        this.push(changed > 0 ? Buffer.from(text, 'latin1') : rest)
      }
      done()
    },
  })
  return Object.assign(stream, {stats})
}

/** Rewrites `src` into `dest` (0600) through the line rewriter; returns how many values changed. */
export async function rewriteDumpFile(
  src: string,
  dest: string,
  rewriter: LineRewriter,
): Promise<{lines: number; changed: number}> {
  const transform = lineRewriteStream(rewriter)
  await pipeline(createReadStream(src), transform, createWriteStream(dest, {mode: 0o600, flags: 'wx'}))
  return transform.stats
}
