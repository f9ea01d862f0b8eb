import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '@bkcli/core/errors'
// (yaml loads on the first compose file read, not with every command that imports this module: `bk iotstack
// verify` reaches it through restore.js and never parses YAML)
import {yaml} from '@bkcli/core/yaml'
import {readDotenv, type Variables} from './dotenv.js'

/**
 * What bk needs to know of a stack's compose project: its services with image, build context, environment
 * (names only matter to bk; values stay in memory) and volume mappings. `docker compose` reads
 * `docker-compose.yml` and then `docker-compose.override.yml`; IOTstack's `compose-override.yml` is an input of
 * its menu, not read by compose, so it is not merged here.
 */
export interface ComposeService {
  name: string
  image?: string
  /** Build context as written (IOTstack builds mariadb and mosquitto from `./.templates/<name>/.`). */
  build?: string
  /** Environment as written in the compose file, before interpolation. */
  environment: Record<string, string>
  /** Host path (as written, relative to the stack) -> container path, for bind mounts. */
  binds: {host: string; container: string}[]
}

export interface ComposeProject {
  dir: string
  files: string[]
  services: ComposeService[]
  /** Variables compose interpolates with: the stack's `.env`, overridden by the process environment. */
  variables: Variables
}

export const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.override.yml'] as const

export async function loadComposeProject(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ComposeProject> {
  const services = new Map<string, ComposeService>()
  const files: string[] = []
  for (const name of COMPOSE_FILES) {
    const file = join(dir, name)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new BkError(`cannot read ${file}: ${(error as Error).message}`)
    }
    files.push(file)
    mergeServices(services, parseComposeText(text, file))
  }
  if (files.length === 0) {
    throw new BkError(
      `${dir} holds no docker-compose.yml: is it an IOTstack folder? (pass the stack folder as argument)`,
    )
  }
  const dotenv = await readDotenv(join(dir, '.env'))
  const variables: Variables = {...dotenv}
  for (const [key, value] of Object.entries(env)) if (value !== undefined) variables[key] = value
  return {dir, files, services: [...services.values()], variables}
}

/** Parses one compose file's services; BkError naming the file on invalid YAML. */
export function parseComposeText(text: string, file = 'docker-compose.yml'): ComposeService[] {
  let doc: unknown
  try {
    doc = yaml().parse(text)
  } catch (error) {
    const first = (error as Error).message.split('\n')[0]
    throw new BkError(`${file} is not valid YAML (${first}); fix it before backing up`)
  }
  const services = (doc as {services?: unknown} | null)?.services
  if (!isRecord(services)) return []
  return Object.entries(services).map(([name, raw]) => serviceOf(name, isRecord(raw) ? raw : {}))
}

function serviceOf(name: string, raw: Record<string, unknown>): ComposeService {
  const build =
    typeof raw.build === 'string' ? raw.build : isRecord(raw.build) ? String(raw.build.context ?? '') : undefined
  return {
    name,
    image: typeof raw.image === 'string' ? raw.image : undefined,
    build,
    environment: environmentOf(raw.environment),
    binds: bindsOf(raw.volumes),
  }
}

function environmentOf(raw: unknown): Record<string, string> {
  const env: Record<string, string> = {}
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const text = String(item)
      const eq = text.indexOf('=')
      if (eq > 0) env[text.slice(0, eq).trim()] = text.slice(eq + 1)
    }
  } else if (isRecord(raw)) {
    for (const [key, value] of Object.entries(raw)) env[key] = value === null ? '' : String(value)
  }
  return env
}

function bindsOf(raw: unknown): {host: string; container: string}[] {
  if (!Array.isArray(raw)) return []
  const binds: {host: string; container: string}[] = []
  for (const item of raw) {
    if (typeof item === 'string') {
      const [host, container] = item.split(':')
      if (host && container && (host.startsWith('.') || host.startsWith('/'))) binds.push({host, container})
    } else if (isRecord(item) && item.type === 'bind' && typeof item.source === 'string') {
      binds.push({host: item.source, container: String(item.target ?? '')})
    }
  }
  return binds
}

function mergeServices(into: Map<string, ComposeService>, add: ComposeService[]): void {
  for (const service of add) {
    const base = into.get(service.name)
    if (!base) {
      into.set(service.name, service)
      continue
    }
    into.set(service.name, {
      name: service.name,
      image: service.image ?? base.image,
      build: service.build ?? base.build,
      environment: {...base.environment, ...service.environment},
      binds: [...base.binds, ...service.binds],
    })
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
