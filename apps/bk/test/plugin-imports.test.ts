// design.md: plugins describe what only they know; engines (process runners, database drivers) live in core once.
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {repoRoot} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'

const ENGINES = ['execa', 'better-sqlite3', 'pg', 'mysql2', 'mysql2/promise', 'node:child_process', 'child_process']
const PLUGINS = ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']

function sources(dir: string): string[] {
  return readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f))
}

describe('plugins import no engine library', () => {
  it.each(PLUGINS)('plugin-%s/src imports none of execa, the database drivers or child_process', (plugin) => {
    const root = repoRoot()
    const offenders: string[] = []
    for (const file of sources(join(root, 'packages', `plugin-${plugin}`, 'src'))) {
      const text = readFileSync(file, 'utf8')
      for (const [, spec] of text.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
        if (spec && ENGINES.includes(spec)) offenders.push(`${relative(root, file)}: ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it.each(PLUGINS)('plugin-%s does not depend on a driver it never opens', (plugin) => {
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'packages', `plugin-${plugin}`, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
    }
    const deps = Object.keys(pkg.dependencies ?? {})
    expect(deps).not.toContain('execa')
    if (plugin === 'zodb' || plugin === 'aegir' || plugin === 'iotstack') {
      expect(deps.filter((d) => ['better-sqlite3', 'pg', 'mysql2'].includes(d))).toEqual([])
    }
  })
})
