import {readdirSync, readlinkSync} from 'node:fs'

/** This process's open file descriptors as `<fd> <target>` (Linux /proc): compare two lists to find a leaked one. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`
    } catch {
      return fd // the descriptor readdir itself had open, closed since
    }
  })
}
