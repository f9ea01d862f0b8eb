import {ListCommand, locationFlag} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import type {ArtifactStore} from '@bkcli/core/workflow'
import {pendingCommits, stackStore} from '../../list.js'

export default class List extends ListCommand<typeof List> {
  static override summary = "List the stack's backups: dated, rolling and restore's safety copies, newest first."
  static override examples = ['<%= config.bin %> iotstack list ~/IOTstack', '<%= config.bin %> iotstack list --json']
  static override args = {
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
  }

  protected async store(): Promise<ArtifactStore> {
    for (const journal of pendingCommits(this.args['stack-dir'], this.flags.location)) {
      this.note(`a run was killed while committing (${journal}): the next bk iotstack backup or restore finishes it`)
    }
    return stackStore(this.args['stack-dir'], this.flags.location)
  }
}
