// Loaded into a bk run (NODE_OPTIONS=--import): writes the process's peak resident memory, in KiB, to
// BK_TEST_PEAK_RSS_FILE as it exits (getrusage's ru_maxrss: every thread, every moment, nothing sampled).
import {writeFileSync} from 'node:fs'

const file = process.env.BK_TEST_PEAK_RSS_FILE
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)))
