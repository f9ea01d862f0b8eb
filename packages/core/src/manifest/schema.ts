import {createRequire} from 'node:module'
import type {ErrorObject, ValidateFunction} from 'ajv'
import {BkError} from '../errors.js'
import type {Manifest} from './types.js'

const nonEmpty = {type: 'string', minLength: 1}
const count = {type: 'integer', minimum: 0}

/**
 * A file's path as a manifest holds one: relative, '/'-separated, no '.', '..' or empty part (a trailing '/' gets
 * through); any other byte a file name can hold, a newline too ([\s\S], not '.', which stops at one). The schema's
 * pattern: {@link isPlainRelativePath} is its check for code that takes paths from elsewhere (a follow location's
 * logs).
 */
const PLAIN_RELATIVE_PATH = '^(?!/)(?![\\s\\S]*(^|/)\\.\\.?(/|$))(?![\\s\\S]*//)[\\s\\S]+$'
const plainRelativePath = new RegExp(PLAIN_RELATIVE_PATH)

/** Whether `path` is a plain relative path inside a folder, as a manifest's `files[].path` must be. */
export function isPlainRelativePath(path: string): boolean {
  return plainRelativePath.test(path)
}

/** The JSON Schema of `bk-manifest.json`. */
export const manifestSchema = {
  $id: 'https://bkcli.dev/schema/bk-manifest-1.json',
  type: 'object',
  required: ['format', 'tool', 'plugin', 'application', 'kind', 'created', 'source', 'components', 'files'],
  additionalProperties: false,
  properties: {
    format: {const: 1},
    tool: {
      type: 'object',
      required: ['name', 'version'],
      additionalProperties: false,
      properties: {name: {const: 'bk'}, version: nonEmpty},
    },
    plugin: {
      type: 'object',
      required: ['name', 'version'],
      additionalProperties: false,
      properties: {name: nonEmpty, version: nonEmpty},
    },
    application: nonEmpty,
    kind: nonEmpty,
    created: {type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$'},
    // a URL with a password must never be written down
    source: {type: 'string', not: {pattern: '^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@'}},
    description: {type: 'string'},
    components: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type'],
        properties: {type: nonEmpty},
        allOf: [
          {
            if: {properties: {type: {const: 'files'}}},
            // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
            then: {required: ['path', 'count', 'bytes'], properties: {path: nonEmpty, count, bytes: count}},
          },
          {
            if: {properties: {type: {const: 'database'}}},
            // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
            then: {
              required: ['engine', 'path', 'format'],
              properties: {
                engine: nonEmpty,
                serverVersion: {type: 'string'},
                path: nonEmpty,
                database: {type: 'string'},
                format: nonEmpty,
              },
            },
          },
        ],
      },
    },
    files: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'size', 'sha256'],
        additionalProperties: false,
        properties: {
          path: {type: 'string', pattern: PLAIN_RELATIVE_PATH},
          size: count,
          sha256: {type: 'string', pattern: '^[0-9a-f]{64}$'},
        },
      },
    },
    extra: {type: 'object'},
  },
} as const

let validator: ValidateFunction | undefined

function field(error: ErrorObject): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '')
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'required') return path ? `${path}.${params.missingProperty}` : String(params.missingProperty)
  if (error.keyword === 'additionalProperties')
    return path ? `${path}.${params.additionalProperty}` : String(params.additionalProperty)
  return path || '(top level)'
}

function explain(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'required':
      return 'is missing'
    case 'additionalProperties':
      return 'is not a known field'
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`
    case 'not':
      return 'must not contain a password'
    case 'pattern':
      return error.instancePath.endsWith('/created')
        ? 'must be a UTC ISO-8601 time (…Z)'
        : `has a bad format (${error.message})`
    default:
      return error.message ?? 'is invalid'
  }
}

/** ajv's options for manifestSchema: the runtime compile's and the build-time validator's (validate-manifest.cjs). */
export const manifestAjvOptions = {allErrors: false, strict: false} as const

/**
 * The manifest validator: the one generated from manifestSchema at build time (scripts/manifest-validator.mjs: one
 * small file instead of loading ajv, ~60 modules, and compiling the schema, ~60 ms on every backup), else (sources
 * run by vitest) ajv's compile of the same schema with the same options.
 */
function loadValidator(): ValidateFunction {
  const require = createRequire(import.meta.url)
  try {
    return require('./validate-manifest.cjs') as ValidateFunction
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
  }
  return new (require('ajv') as typeof import('ajv')).Ajv(manifestAjvOptions).compile(manifestSchema)
}

/** Whether `data` is a valid manifest (validateManifest's verdict, without its message). */
export function isValidManifest(data: unknown): boolean {
  validator ??= loadValidator()
  return validator(data) as boolean
}

/** Throws a BkError naming the first bad field ("bk-manifest.json in <where>: field 'files[3].sha256' …"). */
export function validateManifest(data: unknown, where: string): asserts data is Manifest {
  validator ??= loadValidator()
  if (validator(data)) return
  const errors = (validator.errors ?? []).filter((e) => e.keyword !== 'if')
  const first = errors[0]
  const detail = first ? `field '${field(first)}' ${explain(first)}` : 'invalid'
  throw new BkError(`invalid manifest ${where}: ${detail}`, {code: 'EMANIFEST'})
}
