/**
 * The retention flags (--keep-days, --keep-daily, --keep-weekly, --keep-monthly) do what their help says on every
 * command that shows them: each command runs over the same dated backups and the survivors are compared, by date,
 * with what the rule keeps. The list of commands comes from the oclif manifests, so a command that gains the flags
 * fails here until its plugin adds a case to test/retention.cases.ts.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {isMissingFixtures, type RetentionCase, repoRoot, runBk} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'

const PLUGINS = ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']

function commandsWithRetention(): string[] {
  const ids: string[] = []
  for (const p of PLUGINS) {
    const file = join(repoRoot(), 'packages', `plugin-${p}`, 'oclif.manifest.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
      commands: Record<string, {flags: Record<string, {hidden?: boolean}>}>
    }
    for (const [id, c] of Object.entries(manifest.commands)) {
      if (c.flags['keep-daily'] && !c.flags['keep-daily'].hidden) ids.push(id)
    }
  }
  return ids.sort()
}

async function allCases(): Promise<RetentionCase[]> {
  const cases: RetentionCase[] = []
  for (const p of PLUGINS) {
    const file = join(repoRoot(), 'packages', `plugin-${p}`, 'test', 'retention.cases.ts')
    if (existsSync(file)) cases.push(...((await import(file)) as {cases: RetentionCase[]}).cases)
  }
  return cases
}

// Whole minutes (IOTstack names have no seconds), away from midnight in any zone: 08:00/09:00 local.
const yesterday = new Date(Math.floor((Date.now() - 86_400_000) / 60_000) * 60_000)
const at = (month: number, day: number, hour: number) => new Date(2025, month - 1, day, hour, 0, 0)
const N = yesterday
const MAR5_09 = at(3, 5, 9)
const MAR5_08 = at(3, 5, 8)
const MAR4_09 = at(3, 4, 9) // the day before, same week (Tuesday, Wednesday)
const FEB3_09 = at(2, 3, 9)
const DATES = [N, MAR5_09, MAR5_08, MAR4_09, FEB3_09]

/** What each rule keeps of DATES; a command that makes a backup adds today's, which takes a day of its own. */
const RULES: {flags: string[]; prune: Date[]; backup?: Date[]}[] = [
  {flags: ['--keep-days', '10'], prune: [N], backup: [N]},
  {flags: ['--keep-daily', '3'], prune: [N, MAR5_09, MAR4_09], backup: [N, MAR5_09]},
  {flags: ['--keep-weekly', '2'], prune: [N, MAR5_09]},
  {flags: ['--keep-monthly', '3'], prune: [N, MAR5_09, FEB3_09]},
]

const cases = await allCases()
const iso = (ds: Date[]) => ds.map((d) => d.toISOString()).sort()

describe('retention flags keep what their help says', () => {
  it('every command that shows --keep-daily has a case', () => {
    const covered = new Set(cases.map((c) => c.command))
    expect(commandsWithRetention().filter((id) => !covered.has(id))).toEqual([])
  })

  for (const c of cases) {
    it(`${c.command.replaceAll(':', ' ')}: --keep-days, --keep-daily, --keep-weekly, --keep-monthly`, async (context) => {
      for (const rule of RULES) {
        const expected = c.makesBackup ? rule.backup : rule.prune
        if (!expected) continue // calendar-dependent with today's backup in the set: proven on prune
        let setup: Awaited<ReturnType<RetentionCase['setup']>>
        try {
          setup = await c.setup(DATES)
        } catch (error) {
          if (isMissingFixtures(error)) return context.skip()
          throw error
        }
        try {
          const r = await runBk([...setup.argv, ...rule.flags, '--yes'], {env: setup.env})
          expect(r.exitCode, `${rule.flags.join(' ')}: ${r.stderr}`).toBe(0)
          expect(iso(setup.left()), rule.flags.join(' ')).toEqual(iso(expected))
        } finally {
          await setup.cleanup?.()
        }
      }
    }, 120_000)
  }
})
