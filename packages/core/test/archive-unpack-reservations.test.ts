// node-tar 7's PathReservations keeps every reservation (and through it every entry) for the Unpack's life; bk's
// stand-in starts a fresh one at an idle moment. These tests use node-tar's own class, counting what it holds.
import {createRequire} from 'node:module'
import {describe, expect, it} from 'vitest'
import {boundReservations} from '../src/archive/unpack-reservations.js'

type Handler = (clear: () => void) => void
interface Reservations {
  reserve(paths: string[], fn: Handler): boolean
}
const tar = createRequire(import.meta.url)('tar') as {Unpack: new (o: object) => {reservations: Reservations}}
const TarReservations = new tar.Unpack({cwd: '.'}).reservations.constructor as new () => Reservations

/** node-tar's class, remembering each instance and every handler given to it (what its private map holds). */
function counting() {
  const made: {handlers: Handler[]}[] = []
  class Counting extends TarReservations {
    handlers: Handler[] = []
    constructor() {
      super()
      made.push(this)
    }
    override reserve(paths: string[], fn: Handler): boolean {
      this.handlers.push(fn)
      return super.reserve(paths, fn)
    }
  }
  return {made, unpack: {reservations: new Counting() as Reservations}}
}

describe('boundReservations', () => {
  it('hands reservations to fresh instances once none is outstanding, so what one holds stays bounded', () => {
    const {made, unpack} = counting()
    boundReservations(unpack)
    for (let i = 0; i < 5000; i++) unpack.reservations.reserve([`d/f${i}`], (clear) => clear())
    expect(made.length).toBeGreaterThan(10)
    expect(Math.max(...made.map((m) => m.handlers.length))).toBeLessThanOrEqual(256)
  })

  it('keeps one instance while a reservation is outstanding: writes to one path stay in order', () => {
    const {made, unpack} = counting()
    boundReservations(unpack)
    let release: (() => void) | undefined
    const order: string[] = []
    unpack.reservations.reserve(['a/x'], (clear) => {
      order.push('first')
      release = clear
    })
    for (let i = 0; i < 600; i++) unpack.reservations.reserve([`b/f${i}`], (clear) => clear())
    // the same path again: it must wait for the first, which only the same instance knows of
    unpack.reservations.reserve(['a/x'], (clear) => {
      order.push('second')
      clear()
    })
    expect(made.length).toBe(1)
    expect(order).toEqual(['first'])
    release?.()
    expect(order).toEqual(['first', 'second'])
    // idle now: the next reservation goes to a fresh instance
    unpack.reservations.reserve(['c'], (clear) => clear())
    expect(made.length).toBe(2)
  })

  it('counts a reservation cleared twice once', () => {
    const {made, unpack} = counting()
    boundReservations(unpack)
    let held: (() => void) | undefined
    unpack.reservations.reserve(['held'], (clear) => {
      held = clear
    })
    for (let i = 0; i < 300; i++)
      unpack.reservations.reserve([`f${i}`], (clear) => {
        clear()
        clear()
      })
    // had the double clears counted, the held one would look released and the instance be replaced under it
    unpack.reservations.reserve(['g'], (clear) => clear())
    expect(made.length).toBe(1)
    held?.()
    unpack.reservations.reserve(['h'], (clear) => clear())
    expect(made.length).toBe(2)
  })

  it('leaves an object without node-tar reservations alone', () => {
    const odd = {reservations: undefined}
    boundReservations(odd)
    expect(odd.reservations).toBeUndefined()
  })
})
