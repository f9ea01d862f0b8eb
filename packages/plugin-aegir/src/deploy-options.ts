import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import type {Command} from '@bkcli/core/oclif'
import {hookFlags} from '@bkcli/core/process'
import {adminTarget} from './admin.js'
import {overridesFromUrl} from './db-overrides.js'
import {adminFlags, dumpFlags, locationFlag, locationOf, siteDbFlags, webGroupFlag} from './flags.js'
import {resolveGroup} from './layout.js'
import {type AegirSite, openSite} from './site.js'

/** The flags restore, clone and migrate share (site database, admin account, dump, files). */
export interface DeployFlags {
  'db-url'?: string
  'password-file'?: string
  'db-admin-url'?: string
  'db-admin-password-file'?: string
  'db-grant-host'?: string
  'db-name'?: string
  'web-group'?: string
  location?: string
  force?: boolean
  'strip-definer'?: boolean
}

/** What the command gives: its config-file secrets and its output channels. */
export interface CommandIo {
  configSecret(key: string): string | undefined
  note(message: string): void
  info(message: string): void
}

/** Opens the site, with its database credentials overridden by --db-url/--password-file/bk.yml when given. */
export async function openSiteFromFlags(siteDir: string, flags: DeployFlags, io: CommandIo): Promise<AegirSite> {
  const database = await overridesFromUrl(
    flags['db-url'],
    flags['password-file'],
    (m) => io.note(m),
    io.configSecret('db-password'),
  )
  return openSite(siteDir, {database})
}

/** The options every deploying step (restore, clone, migrate) takes, resolved from the shared flags. */
export async function deployOptions(flags: DeployFlags, io: CommandIo) {
  return {
    location: locationOf(flags),
    admin: await adminTarget({
      url: flags['db-admin-url'],
      passwordFile: flags['db-admin-password-file'],
      configPassword: io.configSecret('db-admin-password'),
    }),
    grantHost: flags['db-grant-host'],
    webGroup: flags['web-group'] === undefined ? undefined : await resolveGroup(flags['web-group']),
    force: flags.force,
    stripDefiner: flags['strip-definer'],
    dbName: flags['db-name'],
    onStep: (step: string) => io.info(`- ${step}`),
  }
}

/** The flags restore, clone and migrate all take. */
export const deployFlags = {
  ...dryRunFlag,
  ...hookFlags,
  location: locationFlag,
  'web-group': webGroupFlag,
  ...adminFlags,
  ...dumpFlags,
  ...siteDbFlags,
}

/** Base of the commands that deploy a site (restore, clone, migrate): gives the domain steps the command's I/O. */
export abstract class DeployCommand<T extends typeof Command> extends BkCommand<T> {
  protected io(): CommandIo {
    return {
      configSecret: (key) => this.configSecret(key),
      note: (message) => this.note(message),
      info: (message) => this.info(message),
    }
  }
}
