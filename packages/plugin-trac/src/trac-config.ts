/**
 * trac.ini with its `[inherit] file` chain, looked up the way trac/config.py does: the local file first, then
 * each parent in the order listed (recursively, parents' own parents included), then Trac's default.
 * Relative parent paths resolve against the directory of the file that names them.
 */
import {existsSync} from 'node:fs'
import {dirname, isAbsolute, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {IniFile} from '@bkcli/core/ini'

export interface ConfigLayer {
  path: string
  ini: IniFile
}

export class TracConfig {
  private constructor(readonly layers: ConfigLayer[]) {}

  /** Reads `file` and every file it inherits from. A missing parent is an error: Trac would run without it. */
  static async load(file: string): Promise<TracConfig> {
    const layers: ConfigLayer[] = []
    const seen = new Set<string>()
    const visit = async (path: string, namedBy?: string): Promise<void> => {
      const abs = resolve(path)
      if (seen.has(abs)) return
      seen.add(abs)
      if (!existsSync(abs)) {
        const from = namedBy ? ` (inherited by ${namedBy})` : ''
        throw new BkError(`the configuration file is not found at ${abs}${from}; restore it or fix [inherit] file`)
      }
      const ini = await IniFile.read(abs)
      layers.push({path: abs, ini})
      for (const parent of splitList(ini.get('inherit', 'file'))) {
        await visit(isAbsolute(parent) ? parent : resolve(dirname(abs), parent), abs)
      }
    }
    await visit(file)
    return new TracConfig(layers)
  }

  /** The main trac.ini (first layer). */
  get file(): string {
    return this.layers[0]!.path
  }

  /** The inherited files, in lookup order. */
  get parents(): string[] {
    return this.layers.slice(1).map((l) => l.path)
  }

  /** A value from the first layer that sets it, else `fallback`. */
  get(section: string, key: string, fallback?: string): string | undefined {
    return this.lookup(section, key)?.value ?? fallback
  }

  /** The value and the file it came from (relative PathOptions resolve against that file's directory). */
  lookup(section: string, key: string): {value: string; file: string} | undefined {
    for (const layer of this.layers) {
      const value = layer.ini.get(section, key)
      if (value !== undefined) return {value, file: layer.path}
    }
    return undefined
  }

  /** A Trac PathOption: relative to the directory of the file that set it; empty means unset. */
  path(section: string, key: string): string | undefined {
    const found = this.lookup(section, key)
    if (!found || found.value.trim() === '') return undefined
    const value = found.value.trim()
    return isAbsolute(value) ? value : resolve(dirname(found.file), value)
  }

  /** Every key of a section across the chain (first layer wins), for `[repositories]` and the like. */
  section(section: string): Map<string, string> {
    const out = new Map<string, string>()
    for (const layer of [...this.layers].reverse()) {
      for (const key of layer.ini.keys(section)) {
        const value = layer.ini.get(section, key)
        if (value !== undefined) out.set(key, value)
      }
    }
    return out
  }
}

/** Trac's ListOption: comma-separated (newlines allowed), trimmed, empties dropped. */
export function splitList(value: string | undefined): string[] {
  if (!value) return []
  return value
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
}
