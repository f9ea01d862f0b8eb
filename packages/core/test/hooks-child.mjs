// For the hooks tests: runs an operation between hooks and hangs, so the test can stop it with a signal.
import {withHooks} from '../dist/process/index.js'

const [post, pre, mode] = process.argv.slice(2)
await withHooks({post: post || undefined, pre: pre || undefined}, async () => {
  process.stdout.write('running\n')
  if (mode === 'finish') return
  await new Promise(() => setInterval(() => {}, 60_000))
})
