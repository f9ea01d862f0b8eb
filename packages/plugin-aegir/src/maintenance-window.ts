import {dbClient} from '@bkcli/core/db'
import {messageOf} from '@bkcli/core/errors'
import {crashPoint} from '@bkcli/core/safety'
import {readMaintenance, setMaintenance} from './drupal/maintenance.js'
import type {SiteJournal} from './journal.js'
import {sessionFor} from './session.js'
import type {AegirSite} from './site.js'
import {siteTarget} from './target.js'

/** The site's maintenance mode around a deploy: switched on first, switched back if the deploy fails. */
export interface MaintenanceWindow {
  /** What the deployed copy must carry over (the value before the switch), undefined when the version is unknown. */
  readonly carryOver?: {major: number; value: string | undefined}
  /** Puts the previous value back after a failure; a problem doing so becomes a warning (the journal keeps it). */
  leave(): Promise<void>
  /** The old site is retired (committed): nothing to switch back. */
  forget(): void
}

/**
 * Reads the value, records "maintenance switched on by this pid, previous value V" in the journal (fsynced), then
 * switches it on: a run killed at any point after that is switched back by the next run's recovery.
 */
export async function enterMaintenance(
  site: AegirSite,
  step: (name: string) => void,
  warnings: string[],
  journal: SiteJournal,
): Promise<MaintenanceWindow> {
  const major = site.drupal?.major
  if (major === undefined) {
    warnings.push('Drupal version unknown: the site was not put in maintenance mode')
    return {leave: async () => {}, forget: () => {}}
  }
  const session = () => sessionFor(dbClient(siteTarget(site.database)), site.database.engine)
  step('maintenance mode on')
  const on = session()
  let before: string | undefined
  try {
    before = await readMaintenance(on, major)
    journal.record({maintenance: {database: site.database.database, major, previous: before ?? null}})
    await setMaintenance(on, major, true)
    crashPoint('aegir:maintenance-on')
  } finally {
    await on.close()
  }
  return {
    carryOver: {major, value: before},
    async leave() {
      const off = session()
      try {
        await setMaintenance(off, major, before)
        journal.record({maintenance: undefined})
      } catch (e) {
        warnings.push(`could not take the site out of maintenance mode: ${messageOf(e)}`)
      } finally {
        await off.close()
      }
    },
    forget() {
      journal.record({maintenance: undefined})
    },
  }
}
