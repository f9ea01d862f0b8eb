// A full disk while `bk zodb backup` writes the data file (plain: writeAll per chunk; gzip: the compressor's
// output through fileSink): one line naming the repository and what to do, nothing left, no descriptor kept.
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {openFds, tempDir} from '@bkcli/testkit'
import {expect, it} from 'vitest'
import {backupFileStorage} from '../src/backup.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

for (const gzip of [false, true]) {
  it(`a full disk during a ${gzip ? 'gzip' : 'plain'} backup says so, naming the repository`, async (ctx) => {
    const work = tempDir('bk-zodb-full-')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    // 3 MiB of random pickles: neither copy fits in 1 MiB
    for (let i = 0; i < 48; i++) db.commit({oids: [0, 1, 2 + i], size: 64 * 1024})
    const repo = join(work, 'repo')
    mkdirSync(repo)
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', repo]).status !== 0) {
      console.log('skipped: cannot mount a tmpfs here (not permitted)')
      ctx.skip()
      return
    }
    try {
      const before = openFds()
      const error = await backupFileStorage(datafs, {repository: repo, gzip}).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(error?.message).toMatch(
        new RegExp(
          `^no space left in ${repo} for the backup \\S+\\.${gzip ? 'fsz' : 'fs'} \\(\\d+ bytes of Data\\.fs\\); nothing was written, free space and run the backup again$`,
        ),
      )
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC')
      expect(readdirSync(repo)).toEqual([])
      expect(openFds().filter((fd) => !before.includes(fd))).toEqual([])
    } finally {
      spawnSync('umount', [repo])
    }
  }, 60_000)
}
