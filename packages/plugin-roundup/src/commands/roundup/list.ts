import {BkCommand, formatBytes} from '@bkcli/core'
import {Args} from '@oclif/core'
import {listBackups} from '../../backup.js'

export default class List extends BkCommand<typeof List> {
  static override summary = 'List the Roundup backups in a backup location, newest first.'
  static override examples = ['<%= config.bin %> roundup list /srv/tracker.backups']
  static override args = {location: Args.string({description: 'the backup location', required: true})}

  async run() {
    const entries = await listBackups(this.args.location)
    const rows = entries.map((e) => ({
      name: e.name,
      path: e.path,
      date: e.date.toISOString(),
      size: e.size,
      kind: e.kind,
      description: e.description,
    }))
    return this.report(rows, (r) =>
      r.length === 0
        ? `No backups in ${this.args.location}.`
        : r.map(
            (e) =>
              `${e.date}  ${formatBytes(e.size).padStart(10)}  ${e.name}${e.description ? `  ${e.description}` : ''}`,
          ),
    )
  }
}
