import type {Parser} from 'tar'

/**
 * node-tar's strict Parser refuses a tar stream without members ("Unrecognized archive format"), yet that is what an
 * empty tree archives to: the end-of-archive zero blocks alone, which GNU tar writes and reads back. Accept exactly
 * that case (the two zero blocks seen, no member before them: a member with a bad header already failed, strictly);
 * anything shorter, or a stream of garbage, is still refused.
 */
export function acceptEmptyArchive<T extends Parser>(parser: T): T {
  let sawEnd = false
  let entries = 0
  parser.on('eof', () => {
    sawEnd = true
  })
  parser.on('entry', () => {
    entries++
  })
  parser.on('ignoredEntry', () => {
    entries++
  })
  const warn = parser.warn.bind(parser)
  parser.warn = (code, message, data) => {
    if (code === 'TAR_BAD_ARCHIVE' && message === 'Unrecognized archive format' && sawEnd && entries === 0) return
    warn(code, message, data)
  }
  return parser
}
