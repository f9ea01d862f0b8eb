import {randomBytes} from 'node:crypto'
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {isRoot} from './archive-helpers.js'

/**
 * A tree with everything an archive or copy must keep: odd modes (setuid, setgid dir, read-only dir, 0664 that the
 * umask would narrow), owners (as root), old mtimes on files and dirs, symlinks (relative, dangling), a hard link,
 * empty dirs, an empty file, a long path (pax), unicode, a multi-MiB file.
 */
export function makeTree(root: string): void {
  const d = (p: string, mode = 0o755) => {
    mkdirSync(join(root, p), {recursive: true})
    chmodSync(join(root, p), mode)
  }
  const f = (p: string, content: string | Buffer, mode = 0o644) => {
    writeFileSync(join(root, p), content)
    chmodSync(join(root, p), mode)
  }
  mkdirSync(root, {recursive: true})
  d('conf')
  f('conf/app.ini', '[main]\nname = test\n')
  f('conf/secret.env', 'PASSWORD=x\n', 0o600)
  f('conf/group-writable.txt', 'shared\n', 0o664)
  f('conf/readonly.php', '<?php\n', 0o440)
  f('run.sh', '#!/bin/sh\necho hi\n', 0o755)
  f('setuid-tool', 'binary', 0o4755)
  d('files', 0o2775)
  f('files/picture.bin', randomBytes(3 * 1024 * 1024 + 17))
  f('files/empty.txt', '')
  f('files/ünïcødé ✓.txt', 'unicode name\n')
  d('private', 0o700)
  f('private/key', 'k', 0o600)
  d('readonly-dir', 0o755)
  f('readonly-dir/inside.txt', 'in a read-only dir\n')
  d('empty')
  d('empty-0750', 0o750)
  const long = `deep/${'a'.repeat(60)}/${'b'.repeat(60)}`
  d(long)
  f(`${long}/${'c'.repeat(80)}.txt`, 'long path\n')
  symlinkSync('../files/picture.bin', join(root, 'conf/picture-link'))
  symlinkSync('does-not-exist', join(root, 'dangling'))
  symlinkSync('files', join(root, 'files-link'))
  linkSync(join(root, 'conf/app.ini'), join(root, 'app-hardlink.ini'))
  if (isRoot) {
    chownSync(join(root, 'private'), 1883, 1883)
    chownSync(join(root, 'private/key'), 1883, 1883)
    chownSync(join(root, 'files/picture.bin'), 472, 472)
    chownSync(join(root, 'setuid-tool'), 1234, 1234)
    chmodSync(join(root, 'setuid-tool'), 0o4755) // chown cleared it
    lchownSync(join(root, 'conf/picture-link'), 1883, 1883)
  }
  chmodSync(join(root, 'readonly-dir'), 0o555)
  const old = new Date('2021-06-01T12:00:00Z')
  const older = new Date('2019-03-04T05:06:07Z')
  for (const p of ['conf/app.ini', 'files/picture.bin', 'run.sh', `${long}/${'c'.repeat(80)}.txt`])
    utimesSync(join(root, p), older, older)
  lutimesSync(join(root, 'conf/picture-link'), older, older)
  // directories last, deepest first, so their mtimes stick
  for (const p of [long, 'deep', 'conf', 'files', 'private', 'readonly-dir', 'empty', 'empty-0750'])
    utimesSync(join(root, p), old, old)
}
