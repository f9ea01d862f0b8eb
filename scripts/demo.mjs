#!/usr/bin/env node
// The README's quick start: bk's main job on bundled example data, no server needed.
// Makes an example Trac environment on SQLite (generated natively by the trac plugin), then
// hotcopies it, verifies the copy, and restores it into a new environment — printing each step.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const env = {...process.env, BK_DATA_DIR: join(root, '.bk-dev')}

function bk(...args) {
  console.log(`\n$ bk ${args.join(' ')}`)
  const result = spawnSync(process.execPath, [join(root, 'apps/bk/bin/run.js'), ...args], {stdio: 'inherit', env})
  if (result.status !== 0) {
    console.error(`demo: 'bk ${args.join(' ')}' failed (exit ${result.status})`)
    process.exit(result.status ?? 1)
  }
}

const work = mkdtempSync(join(tmpdir(), 'bk-demo-'))
try {
  const trac = await import(pathToFileURL(join(root, 'packages/plugin-trac/dist/index.js')).href)
  const source = join(work, 'example-env')
  await trac.makeExampleEnvironment(source)
  console.log(`Example Trac environment (SQLite) created in ${source}`)
  bk('trac', 'hotcopy', source, join(work, 'hotcopy'))
  bk('trac', 'verify', join(work, 'hotcopy'))
  bk('trac', 'restore', join(work, 'hotcopy'), join(work, 'restored'), '--yes')
  console.log('\nDemo finished: hotcopy, verify and restore all succeeded.')
} finally {
  rmSync(work, {recursive: true, force: true})
}
