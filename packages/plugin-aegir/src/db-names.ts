import {randomInt} from 'node:crypto'

/** provision_password()'s alphabet: no 0/O/1/l/I to misread. */
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'

/** A fresh database password (24 characters from provision's alphabet; provision used 10). */
export function newPassword(length = 24): string {
  let out = ''
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)]
  return out
}

/**
 * provision's suggest_db_name(): the uri without a leading `www.`, dots and dashes removed, 16 characters;
 * when taken, `<first 15-len(i) chars>_<i>` for i = 0..99. `taken(name)` says whether a database or user
 * of that name exists.
 */
export async function suggestDbName(uri: string, taken: (name: string) => Promise<boolean>): Promise<string> {
  const base = uri
    .replace(/^www\./, '')
    .replace(/[.-]/g, '')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .slice(0, 16)
  if (!(await taken(base))) return base
  for (let i = 0; i < 100; i++) {
    const name = `${base.slice(0, 15 - String(i).length)}_${i}`
    if (!(await taken(name))) return name
  }
  throw new Error(`no free database name for ${uri} (tried ${base} and ${base.slice(0, 13)}_0 … _99)`)
}
