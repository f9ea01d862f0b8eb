import {join} from 'node:path'
import {extractFixture} from '@bkcli/testkit'

/** A fresh copy of the fixture stack (extracted as root: owners 1883/1234/472 kept). */
export function fixtureStack(): string {
  return join(extractFixture('iotstack', 'stack'), 'stack')
}

export {type FakeDocker, fakeDocker, standInBin} from './fake-docker.js'
export {sha256Of, type TreeEntry, treeOf, weekday, without} from './tree.js'
