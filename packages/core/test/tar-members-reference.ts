// The reference the fast tar header reader (manifest/tar-members.ts) is held to: node-tar's strict Parser alone.
import {createHash} from 'node:crypto'
import {Parser} from 'tar'
import {acceptEmptyArchive} from '../src/archive/empty.js'
import {normalizeName} from '../src/archive/read.js'

export interface NodeTarReading {
  files: {path: string; size: number; sha256: string}[]
  failure?: Error
  sawEnd: boolean
}

/**
 * What node-tar's strict Parser alone reads in `data` (what manifestForArchive did before its fast header reader): the
 * members with their sizes and sha256, its first error, and whether the stream ended with its end-of-archive blocks.
 */
export async function nodeTarReading(data: Buffer): Promise<NodeTarReading> {
  const files: {path: string; size: number; sha256: string}[] = []
  const digests = new Map<string, (typeof files)[number]>()
  let failure: Error | undefined
  const parser = acceptEmptyArchive(
    new Parser({
      strict: true,
      onReadEntry: (entry) => {
        const path = normalizeName(entry.path)
        if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
          const hash = createHash('sha256')
          let size = 0
          entry.on('data', (c: Buffer) => {
            hash.update(c)
            size += c.length
          })
          entry.on('end', () => {
            if (path === 'bk-manifest.json') return
            const f = {path, size, sha256: hash.digest('hex')}
            digests.set(path, f)
            files.push(f)
          })
        } else if (entry.type === 'Link' && entry.linkpath) {
          const t = digests.get(normalizeName(entry.linkpath))
          if (t) {
            const f = {...t, path}
            digests.set(path, f)
            files.push(f)
          }
        }
        entry.resume()
      },
    }),
  )
  parser.on('error', (e) => {
    failure ??= e
  })
  // node-tar lets a stream without its end-of-archive blocks pass (a cut one); manifestForArchive refuses it
  let sawEnd = false
  parser.on('eof', () => {
    sawEnd = true
  })
  const closed = new Promise<void>((r) => parser.on('close', () => r()))
  parser.end(data)
  await closed
  return {files, failure, sawEnd}
}
