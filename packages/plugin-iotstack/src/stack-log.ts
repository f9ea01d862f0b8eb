import {chown, type FileHandle, mkdir, open} from 'node:fs/promises'
import {dirname} from 'node:path'

/**
 * IOTstack's run log in `backups/logs/` (`backup_<stamp>.log`, `restore_<stamp>.log`): header, what happened,
 * hook output (hooks write to it directly), result. Written 0600: hook output may hold anything.
 */
export class StackLog {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(file: string): Promise<StackLog> {
    await mkdir(dirname(file), {recursive: true, mode: 0o700})
    // Truncated like IOTstack's, then appended to: hooks append their output to the same file.
    await (await open(file, 'w', 0o600)).close()
    const handle = await open(file, 'a', 0o600)
    return new StackLog(file, handle)
  }

  async line(text = ''): Promise<void> {
    await this.handle.write(`${text}\n`)
  }

  async chown(uid: number, gid: number): Promise<void> {
    await chown(this.file, uid, gid)
  }

  async close(): Promise<void> {
    await this.handle.close()
  }
}

/** `2026-11-21T22-19-33`, IOTstack's log time format (local time). */
export function logTime(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}-${p(date.getMinutes())}-${p(date.getSeconds())}`
}
