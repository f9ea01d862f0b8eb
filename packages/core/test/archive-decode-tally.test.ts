// The members the decode thread gave the main thread are tallied there (count, and a sha256 of one line per member),
// so that a read-back that must start again on the main thread (the thread died) can check the first members it
// finds are those already given. The tally hashes its lines in batches: its digest is still the sha256 of every
// member's line in order (as readAgain hashes them, one at a time), and differs for any other list of members.
import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {fileLine, linkLine, tally} from '../src/archive/decode-thread.js'

type Member = [string, number, string] | [string, string]

function tallied(members: Member[]) {
  const given: Member[] = []
  let readWith: unknown = 'not read'
  const {sink, given: counted} = tally({
    file: (path, size, sha256) => given.push([path, size, sha256]),
    link: (path, target) => given.push([path, target]),
    read: (refusal) => {
      readWith = refusal
    },
  })
  for (const m of members) m.length === 3 ? sink.file(m[0], m[1], m[2]) : sink.link(m[0], m[1])
  sink.read(undefined)
  return {given, readWith, count: counted.count, digest: counted.digest()}
}

const lineByLine = (members: Member[]) => {
  const hash = createHash('sha256')
  for (const m of members) hash.update(m.length === 3 ? fileLine(m[0], m[1], m[2]) : linkLine(m[0], m[1]))
  return hash.digest('hex')
}

const sha = (n: number) => createHash('sha256').update(String(n)).digest('hex')

describe('the tally of the members a decode thread gave', () => {
  it('passes every member on, counts them, and hashes their lines as readAgain does, across batches', () => {
    const members: Member[] = []
    for (let i = 0; i < 5000; i++) {
      members.push([`home/db/files/msg/${i >> 10}/msg${i}`, 1000 + i, sha(i)])
      if (i % 97 === 0) members.push([`home/link${i}`, `home/db/files/msg/0/msg${i % 50}`])
    }
    members.push(['home/é ünïcödé 🎉.txt', 7, sha(-1)])
    const out = tallied(members)
    expect(JSON.stringify(out.given)).toBe(JSON.stringify(members))
    expect(out.readWith).toBeUndefined()
    expect(out.count).toBe(members.length)
    expect(out.digest).toBe(lineByLine(members))
    // a digest taken part way, then more members: still the hash of all of them
    const {sink, given} = tally({file: () => {}, link: () => {}, read: () => {}})
    sink.file('a', 1, sha(1))
    expect(given.digest()).toBe(lineByLine([['a', 1, sha(1)]]))
    sink.link('b', 'a')
    expect(given.digest()).toBe(
      lineByLine([
        ['a', 1, sha(1)],
        ['b', 'a'],
      ]),
    )
  })

  it('gives other lists of members other digests, whatever characters their names hold', () => {
    const lists: Member[][] = [
      [['a1', 2, sha(1)]],
      [['a', 12, sha(1)]],
      [['a:1', 2, sha(1)]],
      [
        ['a', 1, sha(1)],
        ['b', 2, sha(2)],
      ],
      [
        ['a', 1, sha(1)],
        ['b', 'a'],
      ],
      [
        ['b', 'a'],
        ['a', 1, sha(1)],
      ],
      [['a\nf1:b', 2, sha(2)]],
      [['a', '1:b']],
      [['a1:b', '']],
      [],
    ]
    const digests = lists.map((l) => tallied(l).digest)
    expect(new Set(digests).size).toBe(lists.length)
  })
})
