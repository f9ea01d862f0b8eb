// Stages new copies of two parts and commits them; BK_CRASH_AT kills it at a crash point.
import {commitParts, journalPathFor} from '@bkcli/core'

const [a, b, keep] = process.argv.slice(2)
await commitParts(
  [
    {stage: `${a}.stage`, target: a},
    {stage: `${b}.stage`, target: b},
  ],
  {journal: journalPathFor(a), keepAs: keep ? (p) => `${p.target}.kept` : undefined},
)
