#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// Always the compiled dist/: never let oclif look for a tsconfig.json and register ts-node/tsx (NODE_ENV=development,
// linked plugins), which would slow every start and compile sources an installed package does not ship.
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
