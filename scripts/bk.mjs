#!/usr/bin/env node
// Runs the workspace's bk with every workspace plugin loaded (through .bk-dev/package.json), without installing anything.
import {spawnSync} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const result = spawnSync(process.execPath, [join(root, 'apps/bk/bin/run.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: {...process.env, BK_DATA_DIR: join(root, '.bk-dev')},
})
process.exit(result.status ?? 1)
