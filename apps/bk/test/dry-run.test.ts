/**
 * --dry-run changes nothing, for every command that offers it: files (bytes, modes, owners, mtimes), databases
 * (full dumps), locks and hooks. The list of commands comes from the plugins' oclif manifests, so a new command
 * with --dry-run fails here until its plugin adds a case to test/dry-run.cases.ts.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {type DryRunCase, fingerprint, isMissingFixtures, repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'

const PLUGINS = ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']
/** Each package's folder: the plugins, and the CLI itself (bk run, schedule, report). */
const PACKAGES = [...PLUGINS.map((p) => join('packages', `plugin-${p}`)), join('apps', 'bk')]

interface ManifestCommand {
  flags: Record<string, unknown>
}

function commandsWithDryRun(): string[] {
  const ids: string[] = []
  for (const pkg of PACKAGES) {
    const file = join(repoRoot(), pkg, 'oclif.manifest.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as {commands: Record<string, ManifestCommand>}
    for (const [id, command] of Object.entries(manifest.commands)) if ('dry-run' in command.flags) ids.push(id)
  }
  return ids.sort()
}

async function allCases(): Promise<DryRunCase[]> {
  const cases: DryRunCase[] = []
  for (const pkg of PACKAGES) {
    const file = join(repoRoot(), pkg, 'test', 'dry-run.cases.ts')
    if (!existsSync(file)) continue
    const mod = (await import(file)) as {cases: DryRunCase[]}
    cases.push(...mod.cases)
  }
  return cases
}

const cases = await allCases()

describe('--dry-run changes nothing', () => {
  it('every command that offers --dry-run has a case', () => {
    const covered = new Set(cases.map((c) => c.command))
    expect(commandsWithDryRun().filter((id) => !covered.has(id))).toEqual([])
  })

  for (const c of cases) {
    it(`${c.command.replaceAll(':', ' ')} --dry-run --yes`, async (context) => {
      let setup: Awaited<ReturnType<DryRunCase['setup']>>
      try {
        setup = await c.setup()
      } catch (error) {
        // a clone without ../shared/fixtures: this case's data comes from them (CI=true never skips)
        if (isMissingFixtures(error)) return context.skip()
        throw error
      }
      const marker = join(tempDir('bk-dry-hook-'), 'hook-ran')
      const locks = tempDir('bk-dry-locks-')
      try {
        const manifest = commandFlags(c.command)
        const hooks =
          'pre-command' in manifest ? ['--pre-command', `touch ${marker}`, '--post-command', `touch ${marker}`] : []
        const before = await fingerprint(setup.state)
        const env = {...setup.env, BK_LOCK_DIR: locks}
        const text = await runBk([...setup.argv, ...hooks, '--dry-run', '--yes'], {env, cwd: setup.cwd})
        expect(text.exitCode, text.stderr).toBe(0)
        expect(text.stdout).toMatch(/^Plan: /m)
        expect(text.stdout).toMatch(/Nothing was changed \(--dry-run\)\./)
        const json = await runBk([...setup.argv, ...hooks, '--dry-run', '--yes', '--json'], {env, cwd: setup.cwd})
        expect(json.exitCode, json.stderr).toBe(0)
        const doc = json.json<{kind: string; dryRun: boolean; plan: {steps: unknown[]}}>()
        expect(doc.kind).toBe('plan')
        expect(doc.dryRun).toBe(true)
        expect(await fingerprint(setup.state)).toEqual(before)
        expect(existsSync(marker)).toBe(false)
        expect(readdirSync(locks)).toEqual([])
      } finally {
        await setup.cleanup?.()
      }
    })
  }
})

function commandFlags(id: string): Record<string, unknown> {
  for (const pkg of PACKAGES) {
    const file = join(repoRoot(), pkg, 'oclif.manifest.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as {commands: Record<string, ManifestCommand>}
    if (manifest.commands[id]) return manifest.commands[id].flags
  }
  return {}
}
