// Starts and at once stops one kind of worker thread (argv[2]), argv[3] times, while the thread pool is kept busy
// (run with UV_THREADPOOL_SIZE=2): a thread terminated while it still loads its modules, even once 'online', left
// the descriptor of a module file open for good. Prints the descriptors left open by any start and stop, as JSON.
// Kinds: decode (a read-back thread stopped), extract (a decoder that fails to start), lane (copyLane closed at once),
// copy (copyTreeInThread stopped), copy-big (copyTreeInThread stopped once the first bytes of a 200 MB file landed:
// besides descriptors, prints a stop that terminated the thread, did not land within the file, or left the copy), hash (fileHasher closed), pump <plugin-zodb's built pump.js> (a read that fails at
// once, both digests offloaded), export <plugin-roundup's built export-thread.js> <sqlite file> (ExportThread closed at
// once).
import {pbkdf2} from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const [kind, roundsArg, moduleArg, extra] = process.argv.slice(2)
const rounds = Number(roundsArg ?? 80)
const dist = new URL('../dist/', import.meta.url)
const root = mkdtempSync(join(tmpdir(), 'bk-thread-stop-'))

/** A pause of `i % 8` ms: a stop lands at a different point of the thread's start each round. */
const pause = (i) => new Promise((resolve) => setTimeout(resolve, Math.max(0, i) % 8))

/** One start and stop of the kind's thread(s). */
async function cycle(i) {
  if (kind === 'decode') {
    const {membersThread} = await import(new URL('archive/decode-thread.js', dist).href)
    const thread = membersThread()
    await pause(i)
    await thread.stop()
  } else if (kind === 'extract') {
    const {gnuUnpackInThread} = await import(new URL('archive/extract-thread.js', dist).href)
    const dest = join(root, `x${i}`)
    mkdirSync(dest)
    const decoder = {program: 'zstd', args: ['-d', '-c'], kind: 'zstd'}
    await gnuUnpackInThread('tar', join(root, 'missing.tar.zst'), decoder, dest, {
      preserveOwner: false,
      outsideSymlinks: false,
    }).then(
      () => {
        throw new Error('the extraction of a missing file succeeded')
      },
      () => {},
    )
  } else if (kind === 'lane') {
    const {copyLane} = await import(new URL('fs/copy-lane.js', dist).href)
    const lane = copyLane(4096, 50, 2)
    await pause(i)
    await lane.close()
  } else if (kind === 'copy') {
    const {copyTreeInThread} = await import(new URL('fs/copy-thread.js', dist).href)
    const copy = copyTreeInThread(join(root, 'src'), join(root, `c${i}`))
    await pause(i)
    await copy.stop()
  } else if (kind === 'copy-big') {
    const {copyTreeInThread} = await import(new URL('fs/copy-thread.js', dist).href)
    const dest = join(root, `b${i}`)
    const before = written()
    const copy = copyTreeInThread(join(root, 'big'), dest, {stage: false})
    let settled = false
    copy.done.then(
      () => {
        settled = true
      },
      () => {
        settled = true
      },
    )
    // stopped once the file's first bytes landed
    while (!settled && !(statSync(join(dest, 'big'), {throwIfNoEntry: false})?.size > 0)) await pause(1)
    const how = await copy.stop()
    const wrote = written() - before
    if (how !== 'ended') problems.push(`round ${i}: the copy's thread ${how ?? 'ended (no answer)'}`)
    if (wrote >= BIG / 2) problems.push(`round ${i}: ${wrote} of the file's ${BIG} bytes written after the stop`)
    if (existsSync(dest)) problems.push(`round ${i}: ${readdirSync(dest).join(', ') || 'its folder'} left in ${dest}`)
  } else if (kind === 'hash') {
    const {fileHasher} = await import(new URL('fs/hash-thread.js', dist).href)
    const hasher = fileHasher()
    await pause(i)
    await hasher.close()
  } else if (kind === 'pump') {
    const {pump} = await import(moduleArg)
    const read = async () => {
      await pause(i)
      throw new Error('read failed')
    }
    await pump({read, md5: true, sha256: true, offload: 'both'}).then(
      () => {
        throw new Error('a failed read pumped')
      },
      () => {},
    )
  } else if (kind === 'export') {
    const {ExportThread, SnapshotProbe} = await import(moduleArg)
    const probe = await SnapshotProbe.open(extra)
    const thread = ExportThread.start(extra, probe)
    await pause(i)
    await thread.close()
    await probe.close()
  } else throw new Error(`no kind ${kind}`)
}

const fds = () =>
  readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`
    } catch {
      return fd
    }
  })
mkdirSync(join(root, 'src'))
writeFileSync(join(root, 'src', 'a'), 'a')
/** copy-big's file (sparse: no disk used) and what went wrong, besides descriptors. */
const BIG = 200 * 1024 * 1024
const problems = []
/** Bytes this process wrote so far (write and copy_file_range alike; its threads' too). */
const written = () => Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1])
if (kind === 'copy-big') {
  mkdirSync(join(root, 'big'))
  writeFileSync(join(root, 'big', 'big'), '')
  truncateSync(join(root, 'big', 'big'), BIG)
}
let busy = true
const spin = () => {
  if (busy) pbkdf2('x', 'y', 20000, 32, 'sha256', spin)
}
spin()
spin()
// once, before counting: what the first thread of a process opens for good (/dev/null, once per process)
await cycle(-1)
await new Promise((resolve) => setTimeout(resolve, 200))
const left = []
for (let i = 0; i < rounds; i++) {
  const before = fds()
  await cycle(i)
  left.push(...fds().filter((fd) => !before.includes(fd)))
}
busy = false
rmSync(root, {recursive: true, force: true})
console.log(JSON.stringify([...left, ...problems]))
