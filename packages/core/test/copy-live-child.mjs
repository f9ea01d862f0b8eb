// A second process for the live-copy tests: copies a big file (or a tree holding one) and truncates the source
// while the copy runs (`pair`: while another file is copied too). Imports the built module (run
// `pnpm --filter @bkcli/core build` first). Reports on stdout:
// (`keep` = loop: the source's folder is moved away and its name made a symlink loop instead; `keep` = moved:<n>:
// the source is renamed to <source>.moved and cut to n bytes there, and a bigger file is put at its old name)
// `truncated` once the source was cut short with the copy running (`missed` when the copy was done first), then
// `done <json>`.
import {readFileSync, renameSync, statSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {copyFile} from 'node:fs/promises'
import {basename, dirname} from 'node:path'
import {setCopyPollMs} from '../dist/fs/copy-file.js'
import {copyLiveFile, copyTree} from '../dist/fs/index.js'

const [mode, src, dest, bigSrc, bigDest, keep] = process.argv.slice(2)
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
setImmediate(cut)
let result
if (mode === 'copyFile') {
  await copyFile(src, dest)
  result = {size: statSync(dest).size}
} else if (mode === 'pair') {
  // the big file, cut short, and another file copied at the same time
  const sizes = await Promise.all([copyLiveFile(bigSrc, bigDest), copyLiveFile(src, dest)])
  result = {sizes}
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
