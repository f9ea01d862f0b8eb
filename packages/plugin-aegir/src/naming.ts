import {Catalog, datedNaming, type Naming} from '@bkcli/core/catalog'

/** provision-backup's names: `<uri>-YYYYmmdd.HHMMSS.tar.gz` in local time, `_1`, `_2` on a collision. */
export function provisionNaming(uri: string): Naming {
  return datedNaming({
    prefix: `${uri}-`,
    format: '%Y%m%d.%H%M%S',
    suffix: ['.tar.gz', '.tgz', '.tar.bz2', '.tar'],
    clock: 'local',
  })
}

/** The site's backups in a backup location (Aegir keeps every site's backups in one folder). */
export function siteCatalog(location: string, uri: string): Catalog {
  return new Catalog(location, provisionNaming(uri))
}

/** Aegir's reasons, as its frontend records them. */
export const REASON_ON_REQUEST = 'Generated on request'
export const REASON_PRE_RESTORE = 'Generated before being restored to a previous version'

/** Aegir's db server record on this machine: root on the local MariaDB. */
export const DEFAULT_ADMIN_URL = 'mysql://root@127.0.0.1:3306/'

/** Where provision keeps backups on the master server. */
export const DEFAULT_LOCATION = '/var/aegir/backups'
