import Import from './import.js'

const {'no-files': _noFiles, ...flags} = Import.flags

/** roundup-admin's `importtables` spelling: `import --no-files`. */
export default class ImportTables extends Import {
  static override tablesOnly = true
  static override summary = 'Import the tables only, as `roundup-admin importtables` (bk roundup import --no-files).'
  static override description =
    'Reads <class>.csv and <class>-journals.csv of an export (or exporttables) directory into a fresh, empty ' +
    'tracker database, as `roundup-admin importtables` does: the same as `bk roundup import --no-files`. ' +
    'db/files must come from elsewhere.'
  static override examples = ['<%= config.bin %> roundup importtables /srv/new-tracker /tmp/tables']
  static override flags = flags as typeof Import.flags
}
