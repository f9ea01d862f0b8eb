import {dbClient, messageOf} from '@bkcli/core'
import {setMaintenance} from './drupal/maintenance.js'
import {sessionFor} from './session.js'
import type {AegirSite} from './site.js'
import {siteTarget} from './target.js'

/** The site's maintenance mode around a deploy: switched on first, switched back if the deploy fails. */
export interface MaintenanceWindow {
  /** What the deployed copy must carry over (the value before the switch), undefined when the version is unknown. */
  readonly carryOver?: {major: number; value: string | undefined}
  /** Puts the previous value back after a failure; a problem doing so becomes a warning. */
  leave(): Promise<void>
}

export async function enterMaintenance(
  site: AegirSite,
  step: (name: string) => void,
  warnings: string[],
): Promise<MaintenanceWindow> {
  const major = site.drupal?.major
  if (major === undefined) {
    warnings.push('Drupal version unknown: the site was not put in maintenance mode')
    return {leave: async () => {}}
  }
  const session = () => sessionFor(dbClient(siteTarget(site.database)), site.database.engine)
  step('maintenance mode on')
  const on = session()
  let before: string | undefined
  try {
    before = await setMaintenance(on, major, true)
  } finally {
    await on.close()
  }
  return {
    carryOver: {major, value: before},
    async leave() {
      const off = session()
      await setMaintenance(off, major, before)
        .catch((e) => warnings.push(`could not take the site out of maintenance mode: ${messageOf(e)}`))
        .finally(() => off.close())
    },
  }
}
