// A second process for the safety tests: holds a lock, or is killed in the middle of an atomic write or a
// restore. Imports the built module (run `pnpm --filter @bkcli/core build` first). Reports on stdout.
import {writeFileSync} from 'node:fs'
import {appendFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {acquireLock, atomicDir, atomicFile, safeRestore} from '../dist/safety/index.js'

const [mode, path, extra] = process.argv.slice(2)
const say = (text) => process.stdout.write(`${text}\n`)
const forever = () => new Promise(() => setInterval(() => {}, 60_000))
const untilStdinCloses = () =>
  new Promise((resolve) => {
    process.stdin.on('data', () => {})
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
  })

if (mode === 'lock') {
  const lock = await acquireLock(path, {operation: extra ?? 'bk test hold'})
  say(`locked ${lock.path}`)
  await untilStdinCloses()
  await lock.release()
  say('released')
} else if (mode === 'take') {
  // Many of these race for one stale lock: all start on the line 'go' on stdin; each says whether it got
  // the lock, and holds it until stdin closes.
  say('ready')
  await new Promise((resolve) => process.stdin.once('data', resolve))
  try {
    const lock = await acquireLock(path, {operation: 'bk test race'})
    say('got')
    await untilStdinCloses()
    await lock.release()
  } catch (error) {
    say(`refused ${error.code}`)
  }
} else if (mode === 'atomic-file') {
  await atomicFile(path, async (tmp) => {
    await writeFile(tmp, 'partial data\n')
    say(`writing ${tmp}`)
    for (;;) {
      await appendFile(tmp, 'more\n')
      await new Promise((r) => setTimeout(r, 20))
    }
  })
} else if (mode === 'atomic-dir') {
  await atomicDir(path, async (stage) => {
    writeFileSync(join(stage, 'a.txt'), 'a')
    say(`building ${stage}`)
    await forever()
  })
} else if (mode === 'restore-after-swap') {
  // Swaps in a new copy, then hangs in afterSwap: SIGTERM must put the old copy back.
  await safeRestore({
    target: path,
    stage: async (stage) => writeFileSync(join(stage, 'new.txt'), 'new'),
    afterSwap: async () => {
      say('swapped')
      await forever()
    },
  })
} else if (mode === 'restore-signal-in-cleanup') {
  // Swaps in a new copy; SIGINT arrives while the (large) previous copy is being removed: the restore is
  // finished by then, so the new copy must stay.
  await safeRestore({
    target: path,
    stage: async (stage) => writeFileSync(join(stage, 'new.txt'), 'new'),
    afterSwap: async () => {
      process.kill(process.pid, 'SIGINT')
    },
  })
  say('finished')
} else if (mode === 'restore-stage') {
  await safeRestore({
    target: path,
    stage: async (stage) => {
      writeFileSync(join(stage, 'new.txt'), 'new')
      say(`staging ${stage}`)
      await forever()
    },
  })
} else {
  say(`unknown mode ${mode}`)
  process.exit(2)
}
