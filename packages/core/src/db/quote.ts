/** `"name"` with embedded quotes doubled: a PostgreSQL (and SQLite) identifier, safe for any name. */
export function quotePgIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte')
  return `"${name.replace(/"/g, '""')}"`
}

/** `` `name` `` with embedded backquotes doubled: a MySQL/MariaDB identifier. */
export function quoteMysqlIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte')
  return `\`${name.replace(/`/g, '``')}\``
}

/** A PostgreSQL string literal (standard_conforming_strings on): `'it''s'`, or `E'…'` when it holds a backslash. */
export function quotePgLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('string contains a NUL byte')
  const body = value.replace(/'/g, "''")
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`
}
