import {rmSync} from 'node:fs'
import {chmod, link, rename, unlink} from 'node:fs/promises'
import {dirname} from 'node:path'
import {BkError} from '../errors.js'
import {registerCleanup} from '../fs/cleanup.js'
import {fsyncDir, fsyncPath} from '../fs/paths.js'

/** A temp file beside `file` (`<file>.partial-<pid>[suffix]`), removed on failure, SIGINT/SIGTERM or exit. */
export class PartialFile {
  readonly path: string
  private readonly unregister: () => void
  constructor(
    readonly file: string,
    suffix = '',
  ) {
    this.path = `${file}.partial-${process.pid}${suffix}`
    const path = this.path
    this.unregister = registerCleanup(() => rmSync(path, {force: true}))
  }

  /** fsync, set the mode, move to the final name (no-clobber unless `overwrite`), fsync the directory. */
  async commit(mode: number, overwrite: boolean): Promise<void> {
    await chmod(this.path, mode)
    await fsyncPath(this.path)
    if (overwrite) await rename(this.path, this.file)
    else {
      // link(2) fails if the name was taken meanwhile, where rename(2) would silently replace it
      try {
        await link(this.path, this.file)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST')
          throw new BkError(`${this.file} already exists (appeared while it was being written); not overwritten`)
        throw error
      }
      await unlink(this.path)
    }
    await fsyncDir(dirname(this.file))
    this.unregister()
  }

  discard(): void {
    rmSync(this.path, {force: true})
    this.unregister()
  }
}
