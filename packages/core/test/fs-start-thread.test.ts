// startThread: a ready that says the thread's modules are loaded, outside its own messages, and a stop that waits
// for it. The boot script runs built (dist/fs/start-thread-boot.js): build core first.
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {startThread} from '../src/fs/start-thread.js'

const built = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'fs', 'index.js')

/** A module file of `code` in a new folder, as a URL. */
function script(code: string): URL {
  const file = join(tempDir(), 'thread.mjs')
  writeFileSync(file, code)
  return pathToFileURL(file)
}

describe('startThread', () => {
  it('the script gets its workerData and argv as it would have, and its first message is its own', async () => {
    const url = script(
      "import {parentPort, workerData} from 'node:worker_threads'\nparentPort.postMessage({workerData, argv: process.argv.slice(1)})\n",
    )
    const thread = startThread(url, {workerData: {a: [1, 'b']}})
    const first = await new Promise((resolve) => thread.worker.once('message', resolve))
    expect(first).toEqual({workerData: {a: [1, 'b']}, argv: [fileURLToPath(url)]})
    await thread.ready
    await thread.stop()
    expect(thread.worker.threadId).toBe(-1)
  })

  it('stop() before ready waits for it, then ends the thread', async () => {
    // its top level still runs (a timer, then an import) when stop() is called; then it waits for messages (only
    // stop() ends it)
    const url = script(
      "import {parentPort} from 'node:worker_threads'\nawait new Promise((resolve) => setTimeout(resolve, 100))\nawait import('node:zlib')\nparentPort.on('message', () => {})\n",
    )
    const thread = startThread(url)
    const seen: string[] = []
    void thread.ready.then(() => seen.push('ready'))
    thread.worker.once('exit', () => seen.push('exit'))
    await thread.stop()
    seen.push('stopped')
    expect(seen).toEqual(['ready', 'exit', 'stopped'])
  })

  it('a script whose top level throws: ready rejects with its error, and stop() resolves', async () => {
    const thread = startThread(script("throw new Error('no start here')\n"))
    const errors: string[] = []
    thread.worker.on('error', (error) => errors.push(error.message))
    await expect(thread.ready).rejects.toThrow('no start here')
    await thread.stop()
    expect(errors).toEqual(['no start here'])
    expect(thread.worker.threadId).toBe(-1)
  })

  it('an eval thread (CommonJS code) is ready once its code ran, its messages its own', async () => {
    const thread = startThread("require('node:worker_threads').parentPort.postMessage(require('node:os').EOL)", {
      eval: true,
    })
    const first = await new Promise((resolve) => thread.worker.once('message', resolve))
    expect(first).toBe('\n')
    await thread.ready
    await thread.stop()
  })

  it('a process started with --input-type=module starts file and eval threads', () => {
    const url = script("import {parentPort} from 'node:worker_threads'\nparentPort.postMessage('file')\n")
    const code = `import {startThread} from ${JSON.stringify(built)}
      const said = []
      const starts = [
        () => startThread(new URL(process.argv[1])),
        () => startThread("require('node:worker_threads').parentPort.postMessage('eval')", {eval: true}),
      ]
      for (const start of starts) {
        const t = start()
        said.push(await new Promise((resolve) => t.worker.once('message', resolve)))
        await t.ready
        await t.stop()
      }
      console.log(said.join(' '))`
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code, url.href], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(out.trim()).toBe('file eval')
  })
  it('two copies of this module in one process (a plugin with its own core): each ready is its own thread', () => {
    // the first thread's top level waits until told; the second's boots at once. Its ready signal must not settle
    // the first's ready (both copies number their channels from 0 in the same thread).
    const slow = script(
      "import {workerData} from 'node:worker_threads'\nconst gate = new Int32Array(workerData)\nwhile (Atomics.load(gate, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5))\n",
    )
    const fast = script('')
    const start = pathToFileURL(join(dirname(built), 'start-thread.js')).href
    const code = `const one = await import(${JSON.stringify(`${start}?one`)})
      const two = await import(${JSON.stringify(`${start}?two`)})
      const gate = new SharedArrayBuffer(4)
      const a = one.startThread(new URL(${JSON.stringify(slow.href)}), {workerData: gate})
      let early = false
      void a.ready.then(() => { early = Atomics.load(new Int32Array(gate), 0) === 0 })
      const b = two.startThread(new URL(${JSON.stringify(fast.href)}))
      await b.ready
      // the second's signal has been posted and delivered to every channel of its name
      await new Promise((resolve) => setTimeout(resolve, 200))
      Atomics.store(new Int32Array(gate), 0, 1)
      await a.ready
      await Promise.all([a.stop(), b.stop()])
      console.log(early ? 'ready before its top level ran' : 'ready after its top level ran')`
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(out.trim()).toBe('ready after its top level ran')
  })
})
