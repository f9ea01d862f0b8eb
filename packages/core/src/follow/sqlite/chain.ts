import {type FollowManifest, seqName} from './location.js'

/**
 * Why `next` does not continue `prev`, the file before it in its generation (undefined when it does): its sequence
 * number must follow, and a WAL segment must start where `prev` left the log (the same frame and checksum, in the
 * same epoch of it) or at the first frame of a new epoch. A file missing there holds commits the location lost;
 * replaying past the gap builds a database that lacks them, which PRAGMA integrity_check does not always see.
 */
export function chainBreak(prev: FollowManifest, next: FollowManifest): string | undefined {
  if (next.seq !== prev.seq + 1) {
    const missing = next.seq - prev.seq - 1
    return missing > 0
      ? `${missing === 1 ? `file ${seqName(prev.seq + 1)} is` : `files ${seqName(prev.seq + 1)}-${seqName(next.seq - 1)} are`} missing (between ${prev.file} and ${next.file})`
      : `${next.file} repeats sequence number ${seqName(next.seq)}`
  }
  if (next.kind !== 'wal') return undefined
  const a = prev.after
  const b = next.before
  if (!b) return `${next.file} does not say where in the WAL it starts`
  const sameEpoch = a.salt1 !== undefined && b.salt1 === a.salt1 && b.salt2 === a.salt2
  if (sameEpoch) {
    if (b.frame !== a.frame || b.cksum[0] !== a.cksum[0] || b.cksum[1] !== a.cksum[1])
      return `${next.file} starts at WAL frame ${b.frame}, but ${prev.file} ended at frame ${a.frame}${b.frame === a.frame ? ' with another checksum' : ''}`
    return undefined
  }
  if (b.frame !== 0) return `${next.file} starts at frame ${b.frame} of a WAL epoch that no earlier file began`
  return undefined
}

/** Every break in a generation's files (sorted as readManifests sorts them), as chainBreak words it. */
export function chainBreaks(manifests: FollowManifest[]): string[] {
  const out: string[] = []
  if (manifests[0] && !(manifests[0].kind === 'snapshot' && manifests[0].seq === 0))
    out.push(`the generation does not begin with its snapshot ${seqName(0)}.snapshot.db`)
  for (let i = 1; i < manifests.length; i++) {
    const problem = chainBreak(manifests[i - 1]!, manifests[i]!)
    if (problem) out.push(problem)
  }
  return out
}
