import {cpSync, mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {discoverSites} from '../src/site.js'

describe('discoverSites (backup --all)', () => {
  it('finds sites/*/settings.php on every platform, skipping all, default, aliases, stages and folders without settings', async () => {
    const root = extractFixture('aegir', 'platforms')
    const d7 = join(root, 'platforms/drupal-7')
    const sites = join(d7, 'sites')
    mkdirSync(join(sites, 'default'))
    writeFileSync(join(sites, 'default/settings.php'), '<?php\n')
    symlinkSync('example.com', join(sites, 'www.example.com'))
    cpSync(join(sites, 'example.com'), join(sites, '.example.com.bk-restore-4242'), {recursive: true})
    cpSync(join(sites, 'example.com'), join(sites, 'example.com.bk-prev-4242'), {recursive: true})
    mkdirSync(join(sites, 'no-settings.org'))
    const d8 = join(root, 'platforms/drupal-8')
    mkdirSync(join(d8, 'sites/b.example.org'), {recursive: true})
    writeFileSync(join(d8, 'sites/b.example.org/settings.php'), '<?php\n')
    mkdirSync(join(root, 'platforms/not-a-platform'))

    expect(await discoverSites(join(root, 'platforms'))).toEqual([
      join(sites, 'example.com'),
      join(d8, 'sites/b.example.org'),
    ])
    // the Aegir root (holding platforms/) and a single platform
    expect(await discoverSites(root)).toHaveLength(2)
    expect(await discoverSites(d7)).toEqual([join(sites, 'example.com')])
    await expect(discoverSites(join(root, 'platforms/not-a-platform'))).rejects.toThrow(/no Drupal platform found/)
  })
})
