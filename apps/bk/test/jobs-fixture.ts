import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {repoRoot, tempDir} from '@bkcli/testkit'

export async function exampleEnv(dir: string): Promise<string> {
  const trac = (await import(pathToFileURL(join(repoRoot(), 'packages/plugin-trac/dist/index.js')).href)) as {
    makeExampleEnvironment(path: string): Promise<void>
  }
  const env = join(dir, 'env')
  await trac.makeExampleEnvironment(env)
  return env
}

/** A bk.yml with a good trac job (pinged at `base`, verified) and a broken one. */
export async function jobsSetup(base: string): Promise<{dir: string; env: Record<string, string>; loc: string}> {
  const dir = tempDir()
  const tracEnv = await exampleEnv(dir)
  const loc = join(dir, 'loc')
  writeFileSync(
    join(dir, 'bk.yml'),
    `jobs:
  - name: trac-good
    run: trac backup ${tracEnv} --location ${loc}
    schedule: daily
    ping: ${base}/good-uuid
    verify: true
  - name: broken
    run: "trac backup '${join(dir, 'no such env')}' --location ${loc}"
    schedule: hourly
    ping: ${base}/bad-uuid
alerts:
  ntfy: ${base}/topic-secret
`,
  )
  return {dir, loc, env: {BK_STATE_DIR: join(dir, 'state')}}
}
