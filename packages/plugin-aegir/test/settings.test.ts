import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {
  credentialsFromDrushrc,
  credentialsFromSettings,
  readSiteDatabase,
  usesServerCredentials,
} from '../src/drupal/credentials.js'
import {
  platformRootInSettings,
  rewriteDrushrcCredentials,
  rewriteSettingsCredentials,
  rewriteSitePathsInText,
} from '../src/drupal/rewrite-settings.js'
import {versionFromSettings} from '../src/drupal/version.js'
import {PhpConfig} from '../src/php/assignments.js'
import {lexPhp} from '../src/php/lexer.js'

const siteOf = (root: string) => join(root, 'platforms/drupal-7/sites/example.com')

function hasPhp(): boolean {
  try {
    execFileSync('php', ['-v'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** settings.php must stay valid PHP: `php -l` when php is installed, else our parser must read every statement. */
function assertValidPhp(file: string): void {
  if (hasPhp()) {
    execFileSync('php', ['-l', file], {stdio: 'pipe'})
    return
  }
  const text = readFileSync(file, 'utf8')
  const tokens = lexPhp(text)
  // balanced brackets, every string closed, statements end with ';'
  let depth = 0
  for (const t of tokens) {
    if (t.kind === 'string') expect(t.text.at(-1)).toBe(t.text[0])
    if (['(', '[', '{'].includes(t.text)) depth++
    if ([')', ']', '}'].includes(t.text)) depth--
    expect(depth).toBeGreaterThanOrEqual(0)
  }
  expect(depth).toBe(0)
}

describe('reading credentials', () => {
  it('reads the fixture settings.php ($databases, provision D7 template)', async () => {
    const root = extractFixture('aegir', 'platforms')
    const db = await readSiteDatabase(siteOf(root))
    expect(db).toEqual({
      engine: 'mysql',
      driver: 'mysql',
      database: 'site_examplecom',
      username: 'examplecom',
      password: 'Xk3vP9qLm2',
      host: '127.0.0.1',
      port: 3306,
      from: 'settings.php $databases',
    })
  })

  it('reads drushrc.php options the same way', () => {
    const root = extractFixture('aegir', 'platforms')
    const c = credentialsFromDrushrc(readFileSync(join(siteOf(root), 'drushrc.php'), 'utf8'))
    expect(c).toMatchObject({database: 'site_examplecom', username: 'examplecom', password: 'Xk3vP9qLm2', port: 3306})
  })

  it('reads a Drupal 6 $db_url with urlencoded password', () => {
    const c = credentialsFromSettings(
      `<?php\n$db_url = 'mysqli://u%40x:p%3Aw%2Fd@db.example:3307/d6site';\n$db_prefix = '';\n`,
    )
    expect(c).toMatchObject({
      driver: 'mysqli',
      username: 'u@x',
      password: 'p:w/d',
      host: 'db.example',
      port: 3307,
      database: 'd6site',
    })
  })

  it('reads the short array syntax, nested $databases and later overrides', () => {
    const text = `<?php
// $databases['default']['default'] = ['database' => 'commented'];
$databases = [
  'default' => ['default' => ['driver' => 'pgsql', 'database' => 'first', 'username' => "us\\"er", 'password' => 'pa\\'ss', 'host' => 'localhost', 'prefix' => '']],
];
$databases['default']['default']['database'] = 'second';
/* $databases['default']['default']['database'] = 'in a block comment'; */
$settings['hash_salt'] = 'x';
`
    const c = credentialsFromSettings(text)
    expect(c).toMatchObject({driver: 'pgsql', database: 'second', username: 'us"er', password: "pa'ss"})
    expect(versionFromSettings(text)?.major).toBe(8)
  })

  it('falls back to drushrc.php for a cloaked settings.php and says what is missing otherwise', async () => {
    const cloaked = `<?php
  $databases['default']['default'] = array(
    'driver' => urldecode($_SERVER['db_type']),
    'database' => urldecode($_SERVER['db_name']),
    'username' => urldecode($_SERVER['db_user']),
    'password' => urldecode($_SERVER['db_passwd']),
    'host' => urldecode($_SERVER['db_host']),
  );
`
    expect(usesServerCredentials(cloaked)).toBe(true)
    expect(credentialsFromSettings(cloaked)).toBeUndefined()
    const {tempDir} = await import('@bkcli/testkit')
    const {writeFileSync} = await import('node:fs')
    const dir = tempDir()
    writeFileSync(join(dir, 'settings.php'), cloaked)
    await expect(readSiteDatabase(dir)).rejects.toThrow(/cloaked.*--db-url/)
    const db = await readSiteDatabase(dir, {driver: 'mysql', database: 'd', username: 'u', password: 'p'})
    expect(db).toMatchObject({database: 'd', from: 'flags'})
    writeFileSync(
      join(dir, 'drushrc.php'),
      "<?php\n$options['db_type'] = 'mysql';\n$options['db_name'] = 'dd';\n$options['db_user'] = 'uu';\n$options['db_passwd'] = 'pp';\n",
    )
    expect(await readSiteDatabase(dir)).toMatchObject({
      database: 'dd',
      username: 'uu',
      password: 'pp',
      from: 'drushrc.php',
    })
  })

  it('detects Drupal 7 from the fixture settings.php', () => {
    const root = extractFixture('aegir', 'platforms')
    expect(versionFromSettings(readFileSync(join(siteOf(root), 'settings.php'), 'utf8'))?.major).toBe(7)
    expect(versionFromSettings("<?php\n$db_url = 'mysql://a:b@c/d';\n$conf['file_directory_path'] = 'x';")?.major).toBe(
      6,
    )
  })
})

describe('rewriting credentials', () => {
  it('changes only the credential bytes of the fixture settings.php and keeps it valid PHP', async () => {
    const root = extractFixture('aegir', 'platforms')
    const file = join(siteOf(root), 'settings.php')
    const before = readFileSync(file, 'utf8')
    const next = {
      database: 'examplecom_0',
      username: 'examplecom_0',
      password: 'N3w$Pa\'ss"',
      host: '127.0.0.1',
      port: 3306,
    }
    const {text, changed} = rewriteSettingsCredentials(before, next)
    expect(changed).toBe(6)
    const c = credentialsFromSettings(text)
    expect(c).toMatchObject({
      database: 'examplecom_0',
      username: 'examplecom_0',
      password: 'N3w$Pa\'ss"',
      host: '127.0.0.1',
      port: 3306,
    })
    expect(text).toContain(`$db_url['default'] = "mysql://examplecom_0:N3w%24Pa'ss%22@127.0.0.1:3306/examplecom_0";`)
    expect(text).toContain(`'password' => "N3w\\$Pa'ss\\"",`)
    // every line but the credential lines is unchanged
    const diff = before.split('\n').filter((line, i) => line !== text.split('\n')[i])
    expect(diff.map((l) => l.trim().split(' ')[0])).toEqual([
      "'database'",
      "'username'",
      "'password'",
      "$db_url['default']",
    ])
    const {writeFileSync} = await import('node:fs')
    writeFileSync(file, text)
    assertValidPhp(file)
  })

  it('rewrites drushrc.php', () => {
    const root = extractFixture('aegir', 'platforms')
    const text = readFileSync(join(siteOf(root), 'drushrc.php'), 'utf8')
    const out = rewriteDrushrcCredentials(text, {database: 'nd', username: 'nu', password: 'np'})
    expect(out.changed).toBe(3)
    expect(credentialsFromDrushrc(out.text)).toMatchObject({
      database: 'nd',
      username: 'nu',
      password: 'np',
      host: '127.0.0.1',
    })
  })

  it('rewrites site paths and the platform root, not longer uris', () => {
    const root = extractFixture('aegir', 'platforms')
    const text = readFileSync(join(siteOf(root), 'settings.php'), 'utf8')
    expect(platformRootInSettings(text)).toBe('/var/aegir/platforms/drupal-7')
    const out = rewriteSitePathsInText(
      text + "\n$x = 'sites/example.com.au/files';\n",
      {uri: 'example.com', platformRoot: '/var/aegir/platforms/drupal-7'},
      {uri: 'new.example.org', platformRoot: '/var/aegir/platforms/drupal-7.2'},
    )
    expect(out).toContain("$conf['file_public_path'] = 'sites/new.example.org/files';")
    expect(out).toContain("'/var/aegir/platforms/drupal-7.2/sites/new.example.org/local.settings.php'")
    expect(out).toContain("'/var/aegir/platforms/drupal-7.2/sites/all/platform.settings.php'")
    expect(out).toContain("'sites/example.com.au/files'")
    expect(out).not.toMatch(/sites\/example\.com[/'"]/)
  })
})

describe('PhpConfig', () => {
  it('keeps non-literal values as expressions', () => {
    const php = new PhpConfig(
      `<?php\n$a = 'x' . $b;\n$c['k'] = array('v' => foo(1, 2), 'w' => 3);\nif ($a == 'y') { $d = TRUE; }\n`,
    )
    expect(php.get('$a')?.kind).toBe('expr')
    expect(php.get('$c', 'k', 'v')?.kind).toBe('expr')
    expect(php.string('$c', 'k', 'w')).toBe('3')
    expect(php.string('$d')).toBe('1')
  })
})
