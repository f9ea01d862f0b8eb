/**
 * node-tar 7's Unpack keeps every entry it ever reserved a path for: PathReservations stores each entry's
 * reservation in a map it never deletes from (fixed in tar 8, which needs Node 22). Each one holds the entry and
 * its buffered body, so extracting 65 536 small files with the node-tar engine peaked at 373 MB, growing with the
 * file count. bk hands the Unpack a stand-in that gives each reservation to node-tar's own PathReservations, and
 * starts a fresh one (dropping the old and all it kept) whenever no reservation is outstanding: node-tar's ordering
 * of writes to one path is unchanged, since a new instance is only taken when the old one holds nothing pending.
 */

type Clear = () => void
type Handler = (clear: Clear) => void
interface Reservations {
  reserve(paths: string[], fn: Handler): boolean
}

/** Reservations taken by one PathReservations before it is replaced at the next idle moment. */
const ROTATE_AFTER = 256

/** Gives `unpack` reservations whose memory stays bounded (see above); a no-op if node-tar changed shape. */
export function boundReservations(unpack: object): void {
  const holder = unpack as {reservations?: Reservations}
  const first = holder.reservations
  if (!first || typeof first.reserve !== 'function') return
  const Fresh = first.constructor as new () => Reservations
  let current = first
  let taken = 0
  let outstanding = 0
  holder.reservations = {
    reserve(paths, fn) {
      if (outstanding === 0 && taken >= ROTATE_AFTER) {
        current = new Fresh()
        taken = 0
      }
      taken++
      outstanding++
      return current.reserve(paths, (clear) => {
        let cleared = false
        fn(() => {
          if (cleared) return
          cleared = true
          outstanding--
          clear()
        })
      })
    },
  }
}
