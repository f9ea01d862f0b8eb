// A second process for the live-copy tests: copies a big file (or a tree holding one) and truncates the source
// while the copy runs (`pair`: while another file is copied too; `trio`: a long copy while two are cut, one after
// the other; `plain`: one copy, nothing cut). Imports the built module (run
// `pnpm --filter @bkcli/core build` first). Reports on stdout:
// (`keep` = loop: the source's folder is moved away and its name made a symlink loop instead; `keep` = moved:<n>:
// the source is renamed to <source>.moved and cut to n bytes there, and a bigger file is put at its old name)
// `truncated` once the source was cut short with the copy running (`missed` when the copy was done first), then
// `done <json>`.
import {readFileSync, readlinkSync, renameSync, statSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {copyFile, open} from 'node:fs/promises'
import {resolve as absolute, basename, dirname} from 'node:path'
import {Worker} from 'node:worker_threads'
import {copyWindowsOpened, setCopyPollMs} from '../dist/fs/copy-file.js'
import {copyLiveFile, copyTree} from '../dist/fs/index.js'

const [mode, src, dest, bigSrc, bigDest, keep, secondSrc, secondDest] = process.argv.slice(2)
const say = (text) => process.stdout.write(`${text}\n`)
setCopyPollMs(20)
let finished = false
// the source is cut once the copy has written something (the main thread is free while the thread pool copies)
const cut = () => {
  if (finished) return say('missed')
  if ((statSync(bigDest, {throwIfNoEntry: false})?.size ?? 0) > 0) {
    if (keep === 'loop') {
      // the source's folder moved away and its name made a symlink to itself: stat by path fails with ELOOP
      renameSync(dirname(bigSrc), `${dirname(bigSrc)}.moved`)
      symlinkSync(basename(dirname(bigSrc)), dirname(bigSrc))
      return say('looped')
    }
    if (keep.startsWith('moved:')) {
      renameSync(bigSrc, `${bigSrc}.moved`)
      truncateSync(`${bigSrc}.moved`, Number(keep.slice(6)))
      writeFileSync(bigSrc, Buffer.alloc(2 * statSync(`${bigSrc}.moved`).size + 4 * 1024 * 1024, 7))
      return say('truncated')
    }
    truncateSync(bigSrc, Number(keep))
    return say('truncated')
  }
  setImmediate(cut)
}
/**
 * Makes this process's writes into `path` (a userspace copy's) slow while `slow()`, as on a loaded disk: each is
 * made by a worker thread in small pieces with pauses, so one is in progress when a limit window opens (the main
 * thread, held in the window, issues none). A piece failing (EFBIG) fails the write.
 */
async function slowWritesTo(path, slow) {
  const worker = new Worker(
    `const {parentPort} = require('node:worker_threads'); const {writeSync} = require('node:fs')
    const pause = new Int32Array(new SharedArrayBuffer(4))
    parentPort.on('message', ({fd, data, position}) => {
      let done = 0
      try {
        while (done < data.length) {
          done += writeSync(fd, data, done, Math.min(4096, data.length - done), position ?? null)
          Atomics.wait(pause, 0, 0, 2)
        }
        parentPort.postMessage({done})
      } catch (error) {
        parentPort.postMessage({done, code: error.code, message: error.message})
      }
    })`,
    {eval: true},
  )
  worker.unref()
  const probe = await open('/dev/null')
  const proto = Object.getPrototypeOf(probe)
  await probe.close()
  const write = proto.write
  proto.write = function (data, offset, length, position) {
    let target = ''
    if (!slow()) return write.call(this, data, offset, length, position)
    try {
      target = readlinkSync(`/proc/self/fd/${this.fd}`)
    } catch {}
    if (target !== absolute(path)) return write.call(this, data, offset, length, position)
    return new Promise((resolve, reject) => {
      worker.once('message', ({done, code, message}) => {
        if (code) reject(Object.assign(new Error(message), {code}))
        else resolve({bytesWritten: done, buffer: data})
      })
      worker.postMessage({fd: this.fd, data: Buffer.from(data.subarray(offset, offset + length)), position})
    })
  }
}

if (mode !== 'plain') setImmediate(cut)
let result
if (mode === 'copyFile') {
  await copyFile(src, dest)
  result = {size: statSync(dest).size}
} else if (mode === 'pair') {
  // the big file, cut short, and another file copied at the same time
  const sizes = await Promise.all([copyLiveFile(bigSrc, bigDest), copyLiveFile(src, dest)])
  result = {sizes}
} else if (mode === 'trio') {
  // a long copy (`src`) and two copies cut short, the second started once the first one's limit window has opened
  // and the long copy is far past where either was cut: the long copy is hit by both windows (a kernel copy, then
  // its copy again in userspace; or a userspace copy from the start, across file systems)
  let slowFrom = Number.POSITIVE_INFINITY
  await slowWritesTo(dest, () => copyWindowsOpened() === slowFrom)
  let firstDone = false
  const first = copyLiveFile(bigSrc, bigDest).finally(() => (firstDone = true))
  // the long copy starts with the first one cut (its window comes a few polls later), not before: it would be done
  while (statSync(bigSrc).size !== Number(keep) && !firstDone) await new Promise((resolve) => setImmediate(resolve))
  let longDone = false
  const long = copyLiveFile(src, dest).finally(() => (longDone = true))
  const sizeOf = (path) => statSync(path, {throwIfNoEntry: false})?.size ?? 0
  while ((copyWindowsOpened() === 0 || sizeOf(dest) < 128 * 1024 * 1024) && !longDone) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const opened = copyWindowsOpened()
  slowFrom = opened // until the second window
  const second = copyLiveFile(secondSrc, secondDest)
  const cutSecond = () => {
    if (sizeOf(secondDest) > 0) {
      truncateSync(secondSrc, Number(keep))
      return say('truncated second')
    }
    setImmediate(cutSecond)
  }
  cutSecond()
  const sizes = await Promise.all([long, first, second])
  result = {sizes, windowsBeforeSecond: opened, windows: copyWindowsOpened()}
} else if (mode === 'plain') {
  result = await copyLiveFile(src, dest).then(
    (size) => ({size}),
    (error) => ({message: error.message, code: error.code}),
  )
} else if (mode === 'live') {
  const size = await copyLiveFile(src, dest)
  // this process's soft file-size limit once the copy is done: it must be what it was
  const limits = readFileSync('/proc/self/limits', 'utf8').split('\n')
  result = {
    size,
    fsize: limits
      .find((l) => l.startsWith('Max file size'))
      ?.slice(26)
      .trim()
      .split(/\s+/)[0],
  }
} else {
  const files = {}
  const tree = await copyTree(src, dest, {stage: false, onFile: (path, _target, size) => (files[path] = size)})
  result = {files, bytes: tree.bytes}
}
finished = true
say(`done ${JSON.stringify(result)}`)
