// IOTstack's command lines (issue 14): `backup 1|2|3 [USER]` and `restore FILE [noask]`, typed in the IOTstack folder
// as its scripts are, do what the scripts do; they used to be taken as the stack folder.
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupWords, restoreWords} from '../src/command-line.js'
import {makeExampleStack} from '../src/example.js'
import {resolveOwner} from '../src/owner.js'
import {fakeDocker} from './fake-docker.js'
import {treeOf, weekday} from './tree.js'

async function newStack(): Promise<string> {
  const dir = join(tempDir('bk-iot-words-'), 'IOTstack')
  await makeExampleStack(dir, {volumeBytes: 16 * 1024})
  return dir
}

const archives = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /\.tar\.gz$/.test(n)) : [])

describe("IOTstack's words", () => {
  it('backup 1 | 2 | 3 in the stack folder: dated, rolling, both (no folder named 1, 2 or 3 is looked for)', async () => {
    const stack = await newStack()
    const docker = fakeDocker()
    docker.setUp(true)
    const dated = join(stack, 'backups/backup')
    const rolling = join(stack, 'backups/rolling')
    const r1 = await runBk(['iotstack', 'backup', '1'], {cwd: stack, env: docker.env})
    expect(r1.exitCode, r1.stderr).toBe(0)
    expect(archives(dated)).toHaveLength(1)
    expect(archives(rolling)).toEqual([])
    const r2 = await runBk(['iotstack', 'backup', '2', '-q'], {cwd: stack, env: docker.env})
    expect(r2.exitCode, r2.stderr).toBe(0)
    expect(archives(dated)).toHaveLength(1)
    expect(archives(rolling)).toEqual([`backup_${weekday()}.tar.gz`])
    const r3 = await runBk(['iotstack', 'backup', '3', '--json'], {cwd: stack, env: docker.env})
    expect(r3.exitCode, r3.stderr).toBe(0)
    expect(r3.json<{archives: {kind: string}[]}>().archives.map((a) => a.kind)).toEqual(['dated', 'rolling'])
    // Each run brought the running stack down for its copy and up again, as backup.sh does.
    expect(docker.sequence().filter((c) => c === 'compose down' || c === 'compose up -d')).toEqual(
      Array(3).fill(['compose down', 'compose up -d']).flat(),
    )
    // Contradictions and stray words are usage errors that change nothing.
    const before = treeOf(stack, [])
    const clash = await runBk(['iotstack', 'backup', '2', '--type', 'dated'], {cwd: stack, env: docker.env})
    expect(clash.exitCode).toBe(2)
    expect(clash.stderr).toContain('backup type 2 is --type rolling, but --type dated was given')
    const stray = await runBk(['iotstack', 'backup', stack, 'pi'], {env: docker.env})
    expect(stray.exitCode).toBe(2)
    expect(stray.stderr).toContain("unexpected argument 'pi': IOTstack's USER follows a backup type")
    expect(treeOf(stack, [])).toEqual(before)
  })

  it('as root, backup 3 USER gives the archives, the log and the backup folders (also existing ones) to USER', async () => {
    expect(process.geteuid?.()).toBe(0)
    const stack = await newStack()
    // An earlier root run made these folders, root-owned 0700: the user could not open them.
    for (const sub of ['backup', 'rolling', 'logs'])
      mkdirSync(join(stack, 'backups', sub), {recursive: true, mode: 0o700})
    const docker = fakeDocker()
    const result = await runBk(['iotstack', 'backup', '3', 'nobody', '--json'], {cwd: stack, env: docker.env})
    expect(result.exitCode, result.stderr).toBe(0)
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], {encoding: 'utf8'}).trim())
    const json = result.json<{archives: {path: string}[]; log: string}>()
    const owned = [
      ...json.archives.flatMap((a) => [a.path, `${a.path}.bk.json`]),
      json.log,
      ...['', 'backup', 'rolling', 'logs'].map((sub) => join(stack, 'backups', sub)),
    ]
    for (const path of owned) expect(statSync(path).uid, path).toBe(nobody)
    expect(statSync(join(stack, 'backups/backup')).mode & 0o777).toBe(0o700)
    // The stack's own files stay as they were.
    expect(statSync(join(stack, 'docker-compose.yml')).uid).toBe(0)
    // --user and USER agree, or it is an error.
    const clash = await runBk(['iotstack', 'backup', '3', 'nobody', '--user', 'root'], {cwd: stack, env: docker.env})
    expect(clash.exitCode).toBe(2)
  })

  it('USER is used only as root (as backup.sh); the words are parsed as IOTstack does', () => {
    expect(backupWords('3', 'pi', {}, 1000)).toEqual({
      stack: '.',
      type: 'both',
      user: undefined,
      notes: ["USER pi is used only when run as root, as in IOTstack's backup.sh: ignored"],
    })
    expect(backupWords('2', 'pi', {}, 0)).toMatchObject({stack: '.', type: 'rolling', user: 'pi', notes: []})
    expect(backupWords('./2', undefined, {}, 0)).toMatchObject({stack: './2', type: 'both'})
    expect(backupWords(undefined, undefined, {type: 'dated', user: 'pi'}, 0)).toMatchObject({
      stack: '.',
      type: 'dated',
      user: 'pi',
    })
    expect(restoreWords('noask')).toEqual({stack: '.', noask: true})
    expect(restoreWords('./noask')).toEqual({stack: './noask', noask: false})
    expect(restoreWords(undefined)).toEqual({stack: '.', noask: false})
  })

  it('restore FILE noask restores the stack in the current folder without asking (no terminal, no --yes)', async () => {
    const stack = await newStack()
    const docker = fakeDocker()
    const made = await runBk(['iotstack', 'backup', '1', '--json'], {cwd: stack, env: docker.env})
    expect(made.exitCode, made.stderr).toBe(0)
    const name = archives(join(stack, 'backups/backup'))[0]!
    const flows = join(stack, 'volumes/nodered/data/flows.json')
    const original = readFileSync(flows, 'utf8')
    execFileSync('sh', ['-c', `echo changed > "${flows}"`])
    // Without noask and without a terminal it refuses, as before.
    const asked = await runBk(['iotstack', 'restore', `backup/${name}`], {cwd: stack, env: docker.env})
    expect(asked.exitCode).not.toBe(0)
    expect(readFileSync(flows, 'utf8')).toBe('changed\n')
    const result = await runBk(['iotstack', 'restore', `backup/${name}`, 'noask'], {cwd: stack, env: docker.env})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(flows, 'utf8')).toBe(original)
    expect(existsSync(join(stack, 'noask'))).toBe(false)
  })
})

describe('USER / --user lookup', () => {
  it("a name that looks like getent's option is looked up as a name, and refused", async () => {
    // getent passwd --help prints its help with exit 0: it once parsed as a user with uid NaN (chown then failed silently)
    for (const name of ['--help', '-?', '-V']) {
      await expect(resolveOwner(name)).rejects.toThrow(`--user ${name}: no such user on this machine`)
    }
    if (process.geteuid?.() === 0) expect(await resolveOwner('root')).toEqual({name: 'root', uid: 0, gid: 0})
  })
})
