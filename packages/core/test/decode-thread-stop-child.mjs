// Starts and stops read-back threads (membersThread of the built core, given as argv[2]) at small delays while the
// thread pool is kept busy (run with UV_THREADPOOL_SIZE=2): a thread stopped while it still loads its modules left
// the descriptor of a module file open for good. Prints the descriptors left open by any start and stop, as JSON.
import {pbkdf2} from 'node:crypto'
import {readdirSync, readlinkSync} from 'node:fs'

const {membersThread} = await import(process.argv[2])
const rounds = Number(process.argv[3] ?? 80)
const fds = () =>
  readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`
    } catch {
      return fd
    }
  })
let busy = true
const spin = () => {
  if (busy) pbkdf2('x', 'y', 20000, 32, 'sha256', spin)
}
spin()
spin()
// once, before counting: what the first thread of a process opens for good (/dev/null, once per process)
const warm = membersThread()
await new Promise((resolve) => setTimeout(resolve, 200))
await warm.stop()
const left = []
for (let i = 0; i < rounds; i++) {
  const before = fds()
  const thread = membersThread()
  await new Promise((resolve) => setTimeout(resolve, i % 8))
  await thread.stop()
  left.push(...fds().filter((fd) => !before.includes(fd)))
}
busy = false
console.log(JSON.stringify(left))
