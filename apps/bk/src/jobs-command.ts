import {resolve} from 'node:path'
import {BkCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {type BkInvocation, type JobsConfig, parseJobs} from '@bkcli/core/jobs'
import type {Command} from '@bkcli/core/oclif'

/** bk's settings that a timer must see as this shell does (where plugins, state and locks live). */
const CARRIED = ['BK_DATA_DIR', 'BK_STATE_DIR', 'BK_LOCK_DIR', 'BK_CONFIG_DIR', 'BK_CACHE_DIR']

/** The base of `bk run`, `status`, `schedule …` and `report`: the jobs and alerts of bk.yml, and how to start bk. */
export abstract class JobsCommand<T extends typeof Command> extends BkCommand<T> {
  /** The jobs of the config file; none configured is an error saying where they go. */
  protected jobsConfig(): JobsConfig {
    const loaded = this.loadedConfig
    if (!loaded?.file) {
      throw new BkError('no config file: put jobs in ./bk.yml (or pass --config <file>); see bk run --help', {
        code: 'ECONFIG',
      })
    }
    const config = parseJobs(loaded.file, loaded.jobs, loaded.alerts)
    if (config.jobs.length === 0) {
      throw new BkError(`${loaded.file} has no jobs: add a jobs: list (name, run, schedule); see bk run --help`, {
        code: 'ECONFIG',
      })
    }
    return config
  }

  /** This bk: the same Node and bin script, and the same config file, for jobs and for timers. */
  protected invocation(): BkInvocation {
    const env = Object.fromEntries(CARRIED.filter((k) => process.env[k]).map((k) => [k, process.env[k] as string]))
    return {node: process.execPath, script: resolve(process.argv[1] ?? 'bk'), config: this.loadedConfig?.file, env}
  }
}
