import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {hookFlags, hooksFromFlags, runHook, withHooks} from '../src/process/index.js'
import {startChild} from './safety-util.js'

/** A post-command that records what it saw, so the test can read it afterwards. */
function recorder(dir: string): {post: string; seen: () => string} {
  const file = join(dir, 'post.txt')
  writeFileSync(file, '')
  return {
    post: `printf 'status=%s error=%s target=%s\\n' "$BK_STATUS" "$BK_ERROR" "$BK_TARGET" >> '${file}'`,
    seen: () => readFileSync(file, 'utf8'),
  }
}

describe('runHook', () => {
  it('runs through /bin/sh with the given env and cwd', async () => {
    const dir = tempDir()
    await runHook('echo "$X" > out.txt; pwd >> out.txt', {env: {X: 'hello world'}, cwd: dir, label: 'pre-command'})
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe(`hello world\n${dir}\n`)
  })

  it('a non-zero exit is a one-line BkError naming the hook, exit code and command', async () => {
    const error = await runHook('exit 3', {label: 'pre-command', quiet: true}).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toBe('pre-command failed (exit 3): exit 3')
  })

  it('a hook killed by a signal says so', async () => {
    await expect(runHook('kill -TERM $$', {label: 'post-command', quiet: true})).rejects.toThrow(
      'post-command failed (killed by SIGTERM): kill -TERM $$',
    )
  })
})

describe('withHooks', () => {
  it('BK_ERROR never carries a database password from the failure message', async () => {
    const dir = tempDir()
    const rec = recorder(dir)
    await expect(
      withHooks({post: rec.post}, async () => {
        throw new Error('connect to postgres://trac:s3cret@db/trac failed')
      }),
    ).rejects.toThrow()
    expect(rec.seen()).toBe('status=failed error=connect to postgres://trac:***@db/trac failed target=\n')
  })

  it('runs pre, the work, then post with BK_STATUS=ok', async () => {
    const dir = tempDir()
    const rec = recorder(dir)
    const order: string[] = []
    const result = await withHooks(
      {pre: `echo pre >> '${join(dir, 'order')}'`, post: rec.post, env: {BK_TARGET: 't'}},
      async () => {
        order.push(readFileSync(join(dir, 'order'), 'utf8').trim())
        return 'done'
      },
    )
    expect(result).toBe('done')
    expect(order).toEqual(['pre'])
    expect(rec.seen()).toBe('status=ok error= target=t\n')
  })

  it('a failing pre-command aborts: the work is not run, post runs with BK_STATUS=failed', async () => {
    const rec = recorder(tempDir())
    let ran = false
    const error = await withHooks({pre: 'exit 3', post: rec.post, quiet: true}, async () => {
      ran = true
    }).catch((e) => e)
    expect(ran).toBe(false)
    expect(error.message).toBe('pre-command failed (exit 3): exit 3')
    expect(rec.seen()).toBe('status=failed error=pre-command failed (exit 3): exit 3 target=\n')
  })

  it('post runs after a failure with BK_ERROR, and the original error is what is thrown', async () => {
    const rec = recorder(tempDir())
    const original = new BkError('database dump failed', {exit: 4, code: 'EDUMP'})
    const error = await withHooks({post: rec.post}, async () => {
      throw original
    }).catch((e) => e)
    expect(error).toBe(original)
    expect(rec.seen()).toBe('status=failed error=database dump failed target=\n')
  })

  it('a failing post after a success is an error naming the hook', async () => {
    const error = await withHooks({post: 'exit 2', quiet: true}, async () => 1).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toBe('post-command failed (exit 2): exit 2')
  })

  it('after a failure, the original error wins and the post failure is mentioned', async () => {
    const error = await withHooks({post: 'exit 5', quiet: true}, async () => {
      throw new BkError('restore failed', {exit: 4, code: 'ERESTORE'})
    }).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.exit).toBe(4)
    expect(error.code).toBe('ERESTORE')
    expect(error.message).toBe('restore failed; also: post-command failed (exit 5): exit 5')
  })

  it('passes hook output (stdout and stderr) to stderr, keeping stdout clean for --json', async () => {
    const child = startChild(
      ['echo post-out; echo post-err >&2', 'echo pre-out; echo pre-err >&2', 'finish'],
      'hooks-child.mjs',
    )
    expect((await child.exited).code).toBe(0)
    expect(child.stdout()).toBe('running\n')
    expect(child.stderr()).toBe('pre-out\npre-err\npost-out\npost-err\n')
  })

  it('the post-command still runs when the operation is stopped by SIGTERM', async () => {
    const rec = recorder(tempDir())
    const child = startChild([rec.post], 'hooks-child.mjs')
    await child.waitFor('running')
    child.proc.kill('SIGTERM')
    expect((await child.exited).code).toBe(143)
    expect(rec.seen()).toBe('status=failed error=interrupted target=\n')
  })
})

describe('hookFlags', () => {
  it('defines --pre-command and --post-command', () => {
    expect(Object.keys(hookFlags)).toEqual(['pre-command', 'post-command'])
    expect(hooksFromFlags({'pre-command': 'mount /mnt', 'post-command': ''})).toEqual({
      pre: 'mount /mnt',
      post: undefined,
    })
  })
})
