import {IniFile, type IniOptions} from './file.js'

/**
 * Several INI files read as one, the first that sets an option winning — the shape of Trac's
 * `[inherit] file` (the local trac.ini, then each parent). Which files to chain is the caller's business.
 */
export class IniChain {
  constructor(readonly files: readonly IniFile[]) {}

  static async read(paths: readonly string[], options: IniOptions = {}): Promise<IniChain> {
    return new IniChain(await Promise.all(paths.map((path) => IniFile.read(path, options))))
  }

  /** The file that sets the option, if any. */
  source(section: string, key: string): IniFile | undefined {
    return this.files.find((file) => file.has(section, key))
  }

  get(section: string, key: string): string | undefined {
    return this.source(section, key)?.get(section, key)
  }

  has(section: string, key: string): boolean {
    return this.source(section, key) !== undefined
  }
}
