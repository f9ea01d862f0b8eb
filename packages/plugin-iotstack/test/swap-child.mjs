// Runs swapMembers on a prepared stack and SIGKILLs itself after `killAfter` members have been swapped:
// a restore killed midway through putting files in place. Used by swap.test.ts.
import {swapMembers} from '../dist/restore-swap.js'

const [plan, killAfter] = [JSON.parse(process.argv[2]), Number(process.argv[3])]
let done = 0
await swapMembers(plan, {
  afterEach: async () => {
    done++
    if (done === killAfter) process.kill(process.pid, 'SIGKILL')
  },
})
