import Export from './export.js'

const {'no-files': _noFiles, ...flags} = Export.flags

/** roundup-admin's `exporttables` spelling: `export --no-files`. */
export default class ExportTables extends Export {
  static override tablesOnly = true
  static override summary = 'Export the tables only, as `roundup-admin exporttables` (bk roundup export --no-files).'
  static override description =
    'Writes <class>.csv and <class>-journals.csv exactly as `roundup-admin exporttables` does: the same as ' +
    '`bk roundup export --no-files`. The target directory must be new or empty.'
  static override examples = ['<%= config.bin %> roundup exporttables /srv/tracker /tmp/tables']
  static override flags = flags as typeof Export.flags
}
