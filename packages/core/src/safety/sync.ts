import {constants} from 'node:fs'
import {open} from 'node:fs/promises'

/** fsync a file or directory by path (directories: so a rename in them is durable). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY)
  try {
    await handle.sync()
  } catch (error) {
    // Some file systems refuse fsync on directories (EINVAL); durability is then the kernel's business.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
  } finally {
    await handle.close()
  }
}

export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

/** A short random tag for temp names, so two processes (or two calls) never share one. */
export function randomTag(): string {
  return Math.random().toString(36).slice(2, 8)
}
