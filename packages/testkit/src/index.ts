export {type CliResult, type RunBkOptions, runBk} from './cli.js'
export {copyFixture, extractFixture} from './fixtures.js'
export {fixturePath, fixturesDir, repoRoot} from './paths.js'
export {cleanupTempDirs, tempDir} from './tmp.js'
