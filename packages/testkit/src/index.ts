export {runBk, type CliResult, type RunBkOptions} from './cli.js'
export {copyFixture, extractFixture} from './fixtures.js'
export {fixturePath, fixturesDir, repoRoot} from './paths.js'
export {cleanupTempDirs, tempDir} from './tmp.js'
