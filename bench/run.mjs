// pnpm bench: runs every bench/*.bench.mjs in turn (BENCH_ONLY=name,name to choose; BENCH_SCALE to shrink).
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const only = process.env.BENCH_ONLY?.split(',').filter(Boolean)
const cases = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => !only || only.includes(f.replace('.bench.mjs', '')))
  .sort()
let failed = 0
for (const file of cases) {
  const result = spawnSync(process.execPath, [join(here, file)], {stdio: 'inherit'})
  if (result.status !== 0) {
    failed++
    console.error(`bench: ${file} failed (exit ${result.status})`)
  }
}
process.exit(failed ? 1 : 0)
