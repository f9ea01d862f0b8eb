import {PassThrough} from 'node:stream'
import {afterEach, describe, expect, it} from 'vitest'
import {setProgressOutput, stepProgress, withStep} from '../src/index.js'

function capture(): {stream: PassThrough; text: () => string} {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  return {stream, text: () => text}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

afterEach(() => {
  setProgressOutput('off')
  delete process.env.BK_PROGRESS_DELAY_MS
})

describe('step progress', () => {
  it('is silent when off', async () => {
    const out = capture()
    setProgressOutput('off', out.stream)
    const p = stepProgress('archiving')
    p.update(10)
    p.done()
    expect(out.text()).toBe('')
  })

  it('json: one object per line under the label withStep gave, and a finished event', async () => {
    process.env.BK_PROGRESS_DELAY_MS = '0'
    const out = capture()
    setProgressOutput('json', out.stream)
    await withStep('archiving volumes', async () => {
      const p = stepProgress('archiving', {total: 300})
      p.update(100)
      await sleep(550)
      p.update(200)
      p.done()
    })
    const events = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events.every((e) => e.step === 'archiving volumes' && e.unit === 'bytes' && e.total === 300)).toBe(true)
    expect(events.at(-1)).toMatchObject({done: 200, finished: true})
  })

  it('tty: redraws one line with rate and ETA, then ends it with a final line', async () => {
    process.env.BK_PROGRESS_DELAY_MS = '0'
    const out = capture()
    setProgressOutput('tty', out.stream)
    const p = stepProgress('copying blobs', {total: 4096, unit: 'bytes'})
    await sleep(120)
    p.update(1024)
    await sleep(120)
    p.update(2048)
    p.done()
    const text = out.text().replaceAll('\x1b[K', '<EL>')
    expect(text).toMatch(/\rcopying blobs {2}1\.0 KiB \/ 4\.0 KiB {2}25% {2}.*\/s {2}ETA \d+:\d\d<EL>/)
    expect(text).toMatch(/\rcopying blobs {2}2\.0 KiB {2}.*\/s {2}done in 0:00<EL>\n$/)
  })
})
