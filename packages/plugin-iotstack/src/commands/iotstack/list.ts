import {BkCommand, formatBytes} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {listBackups} from '../../list.js'

export default class List extends BkCommand<typeof List> {
  static override summary = "List the stack's backups: dated, rolling and restore's safety copies, newest first."
  static override examples = ['<%= config.bin %> iotstack list ~/IOTstack', '<%= config.bin %> iotstack list --json']
  static override args = {
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    location: Flags.string({description: 'Backups folder (default <stack>/backups).', aliases: ['backups-dir']}),
  }

  async run() {
    const {args, flags} = this
    const backups = await listBackups(args['stack-dir'], {location: flags.location})
    return this.report(backups, (list) =>
      list.length === 0
        ? 'No backups yet.'
        : list.map(
            (b) =>
              `${b.ref.padEnd(42)} ${b.kind.padEnd(11)} ${b.date.slice(0, 16).replace('T', ' ')} UTC  ${formatBytes(b.bytes).padStart(9)}  ${b.madeBy === 'bk' ? (b.includesEnv ? 'bk, .env' : 'bk') : 'IOTstack (no .env)'}`,
          ),
    )
  }
}
