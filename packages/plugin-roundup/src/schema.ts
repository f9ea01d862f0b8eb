/**
 * A tracker's classes and properties, from the two places Roundup keeps them: `schema.py` (read statically,
 * no Python) and the `schema` row of the database (`{'version': N, 'tables': {cls: (key, [(prop, repr)])}}`).
 */
import {PyDict, PyTuple, type PyValue, parsePyLiteral, pyRepr} from './pyrepr.js'

export type PropType =
  | 'String'
  | 'Date'
  | 'Link'
  | 'Multilink'
  | 'Interval'
  | 'Password'
  | 'Boolean'
  | 'Number'
  | 'Integer'
export const PROP_TYPES: readonly PropType[] = [
  'String',
  'Date',
  'Link',
  'Multilink',
  'Interval',
  'Password',
  'Boolean',
  'Number',
  'Integer',
]

export interface PropDef {
  name: string
  type: PropType
  /** Link/Multilink target class */
  target?: string
  /** Number(use_double=True): DOUBLE PRECISION on PostgreSQL */
  useDouble?: boolean
  /** String(indexme='yes'): sent to the full-text indexer (as schema.py says; unset when only the db's row is known) */
  indexme?: boolean
}

export type ClassKind = 'Class' | 'FileClass' | 'IssueClass'

export interface ClassDef {
  name: string
  kind: ClassKind
  /** key property, '' when none */
  key: string
  /** properties in Roundup's own order (schema.py order, then those the class kind adds) */
  props: PropDef[]
  journalling: boolean
}

export interface TrackerSchema {
  version?: number
  classes: ClassDef[]
}

/** The properties every class has besides its own. */
export const PROTECTED: Record<string, PropType> = {
  activity: 'Date',
  actor: 'Link',
  creation: 'Date',
  creator: 'Link',
}

export class SchemaError extends Error {}

export function propRepr(p: PropDef): string {
  if (p.type === 'Link' || p.type === 'Multilink') return `<roundup.hyperdb.${p.type} to "${p.target}">`
  return `<roundup.hyperdb.${p.type}>`
}

function propFromRepr(name: string, repr: string): PropDef {
  const m = /^<roundup\.hyperdb\.(\w+)(?: to "([^"]*)")?>$/.exec(repr)
  if (!m || !PROP_TYPES.includes(m[1] as PropType)) throw new SchemaError(`unknown property type ${repr} for ${name}`)
  const p: PropDef = {name, type: m[1] as PropType}
  if (m[2] !== undefined) p.target = m[2]
  return p
}

/** Parse the `schema` row of a Roundup database. */
export function parseStoredSchema(text: string, kinds?: Map<string, ClassKind>): TrackerSchema {
  let v: PyValue
  try {
    v = parsePyLiteral(text)
  } catch (error) {
    throw new SchemaError(`the database's schema row is not readable: ${(error as Error).message}`)
  }
  if (!(v instanceof PyDict)) throw new SchemaError('the schema row is not a dict')
  const version = v.get('version')
  const tables = v.get('tables')
  if (!(tables instanceof PyDict)) throw new SchemaError('the schema row has no tables')
  const classes: ClassDef[] = []
  for (const [name, spec] of tables.entries) {
    if (typeof name !== 'string' || !(spec instanceof PyTuple) || spec.items.length !== 2) {
      throw new SchemaError(`bad schema entry for ${pyRepr(name)}`)
    }
    const [key, props] = spec.items
    if (!Array.isArray(props)) throw new SchemaError(`bad property list for ${name}`)
    const defs = props.map((p) => {
      if (!(p instanceof PyTuple) || typeof p.items[0] !== 'string' || typeof p.items[1] !== 'string') {
        throw new SchemaError(`bad property in ${name}`)
      }
      return propFromRepr(p.items[0], p.items[1])
    })
    const kind = kinds?.get(name) ?? guessKind(defs)
    classes.push({name, kind, key: typeof key === 'string' ? key : '', props: defs, journalling: true})
  }
  return {version: typeof version === 'bigint' ? Number(version) : undefined, classes}
}

function guessKind(props: PropDef[]): ClassKind {
  const has = (n: string) => props.some((p) => p.name === n && p.type === 'String')
  return has('content') && has('type') ? 'FileClass' : 'Class'
}

/** A canonical text of a schema for comparison: classes and property lists sorted (as update_class does). */
export function normaliseSchema(s: TrackerSchema): string {
  return [...s.classes]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((c) => {
      const props = c.props.map((p) => `${p.name}=${propRepr(p)}`).sort()
      return `${c.name}[${c.key}](${props.join(',')})`
    })
    .join('\n')
}

/** What differs between two schemas, in words (empty when they match). */
export function schemaDifferences(a: TrackerSchema, b: TrackerSchema, aName: string, bName: string): string[] {
  const out: string[] = []
  const byName = (s: TrackerSchema) => new Map(s.classes.map((c) => [c.name, c]))
  const ma = byName(a)
  const mb = byName(b)
  for (const [name, c] of ma) {
    const d = mb.get(name)
    if (!d) {
      out.push(`class ${name} is in ${aName} but not in ${bName}`)
      continue
    }
    if (c.key !== d.key) out.push(`class ${name} has key '${c.key}' in ${aName} but '${d.key}' in ${bName}`)
    const pa = new Map(c.props.map((p) => [p.name, propRepr(p)]))
    const pb = new Map(d.props.map((p) => [p.name, propRepr(p)]))
    for (const [p, r] of pa) {
      if (!pb.has(p)) out.push(`${name}.${p} is in ${aName} but not in ${bName}`)
      else if (pb.get(p) !== r) out.push(`${name}.${p} is ${r} in ${aName} but ${pb.get(p)} in ${bName}`)
    }
    for (const p of pb.keys()) if (!pa.has(p)) out.push(`${name}.${p} is in ${bName} but not in ${aName}`)
  }
  for (const name of mb.keys()) if (!ma.has(name)) out.push(`class ${name} is in ${bName} but not in ${aName}`)
  return out
}

/** The Python-literal text of the schema row Roundup saves for this schema. */
export function storedSchemaText(s: TrackerSchema, version = 8): string {
  const tables = new PyDict(
    s.classes.map((c) => [c.name, new PyTuple([c.key, c.props.map((p) => new PyTuple([p.name, propRepr(p)]))])]),
  )
  return pyRepr(
    new PyDict([
      ['version', BigInt(version)],
      ['tables', tables],
    ]),
  )
}

/** Every property of a class as getprops() lists it (own + protected + id), with types. */
export function allProps(c: ClassDef): Map<string, PropDef> {
  const m = new Map<string, PropDef>()
  for (const p of c.props) m.set(p.name, p)
  for (const [name, type] of Object.entries(PROTECTED)) {
    if (!m.has(name)) m.set(name, type === 'Link' ? {name, type, target: 'user'} : {name, type})
  }
  m.set('id', {name: 'id', type: 'String'})
  return m
}

// ---------------------------------------------------------------------------------------------------------
// schema.py, read statically

/** Parse the class definitions of a tracker's schema.py (the classic template's `Class(db, "name", p=T())` calls). */
export function parseSchemaPy(source: string): TrackerSchema {
  const code = stripComments(source)
  const classes: ClassDef[] = []
  const byVar = new Map<string, ClassDef>()
  const call = /(?:^|\n)[ \t]*(?:(\w+)\s*=\s*)?(Class|FileClass|IssueClass)\s*\(/g
  for (let m = call.exec(code); m; m = call.exec(code)) {
    const open = m.index + m[0].length - 1
    const close = matchParen(code, open)
    const args = splitTopLevel(code.slice(open + 1, close))
    if (args.length < 2) continue
    const name = unquote(args[1]!)
    if (name === undefined) throw new SchemaError(`schema.py: cannot read the class name in ${m[2]}(${args[1]} …)`)
    const kind = m[2] as ClassKind
    const props: PropDef[] = []
    for (const arg of args.slice(2)) {
      const pm = /^(\w+)\s*=\s*(?:hyperdb\.)?(\w+)\s*\(([\s\S]*)\)$/.exec(arg.trim())
      if (!pm) throw new SchemaError(`schema.py: cannot read the property ${arg.trim()} of class ${name}`)
      const type = pm[2] as PropType
      const propName = pm[1]!
      if (!PROP_TYPES.includes(type)) throw new SchemaError(`schema.py: unknown property type ${pm[2]} in ${name}`)
      const p: PropDef = {name: propName, type}
      const inner = splitTopLevel(pm[3]!)
      if (type === 'Link' || type === 'Multilink') {
        const target = unquote(inner[0] ?? '')
        if (!target) throw new SchemaError(`schema.py: cannot read the target class of ${name}.${propName}`)
        p.target = target
      }
      if (type === 'Number' && inner.some((a) => /^use_double\s*=\s*True$/.test(a.trim()))) p.useDouble = true
      if (type === 'String') p.indexme = inner.some((a) => /^indexme\s*=\s*(['"])yes\1$/.test(a.trim()))
      props.push(p)
    }
    const has = (n: string) => props.some((p) => p.name === n)
    if (kind === 'FileClass') {
      if (!has('content')) props.push({name: 'content', type: 'String', indexme: true})
      if (!has('type')) props.push({name: 'type', type: 'String'})
    } else if (kind === 'IssueClass') {
      if (!has('title')) props.push({name: 'title', type: 'String', indexme: true})
      if (!has('messages')) props.push({name: 'messages', type: 'Multilink', target: 'msg'})
      if (!has('files')) props.push({name: 'files', type: 'Multilink', target: 'file'})
      if (!has('nosy')) props.push({name: 'nosy', type: 'Multilink', target: 'user'})
      if (!has('superseder')) props.push({name: 'superseder', type: 'Multilink', target: name})
    }
    const def: ClassDef = {name, kind, key: '', props, journalling: true}
    classes.push(def)
    if (m[1]) byVar.set(m[1], def)
  }
  if (classes.length === 0) throw new SchemaError('schema.py defines no classes that bk can read')
  const byName = new Map(classes.map((c) => [c.name, c]))
  const target = (ref: string) => {
    const db = /^db\.(\w+)$/.exec(ref)
    return db ? byName.get(db[1]!) : byVar.get(ref)
  }
  const setkey = /([\w.]+)\.setkey\(\s*(['"])(\w+)\2\s*\)/g
  for (let m = setkey.exec(code); m; m = setkey.exec(code)) {
    const c = target(m[1]!)
    if (c) c.key = m[3]!
  }
  const nojournal = /([\w.]+)\.disableJournalling\(\s*\)/g
  for (let m = nojournal.exec(code); m; m = nojournal.exec(code)) {
    const c = target(m[1]!)
    if (c) c.journalling = false
  }
  for (const c of classes) {
    for (const p of c.props) {
      if (p.target && !byName.has(p.target)) {
        throw new SchemaError(`schema.py: ${c.name}.${p.name} links to the undefined class ${p.target}`)
      }
    }
  }
  return {classes}
}

function stripComments(src: string): string {
  let out = ''
  let i = 0
  while (i < src.length) {
    const c = src[i]
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++
      continue
    }
    if (c === '"' || c === "'") {
      const triple = src.startsWith(c.repeat(3), i)
      const end = triple ? c.repeat(3) : c
      let j = i + end.length
      while (j < src.length && !src.startsWith(end, j)) j += src[j] === '\\' ? 2 : 1
      j += end.length
      out += src.slice(i, j)
      i = j
      continue
    }
    out += c
    i++
  }
  return out
}

function matchParen(s: string, open: number): number {
  let depth = 0
  for (let i = open; i < s.length; i++) {
    const c = s[i]
    if (c === '"' || c === "'") {
      let j = i + 1
      while (j < s.length && s[j] !== c) j += s[j] === '\\' ? 2 : 1
      i = j
    } else if (c === '(' || c === '[' || c === '{') depth++
    else if (c === ')' || c === ']' || c === '}') {
      depth--
      if (depth === 0) return i
    }
  }
  throw new SchemaError('schema.py: unbalanced parentheses')
}

function splitTopLevel(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '"' || c === "'") {
      let j = i + 1
      while (j < s.length && s[j] !== c) j += s[j] === '\\' ? 2 : 1
      cur += s.slice(i, j + 1)
      i = j
      continue
    }
    if (c === '(' || c === '[' || c === '{') depth++
    if (c === ')' || c === ']' || c === '}') depth--
    if (c === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  if (cur.trim() !== '') out.push(cur)
  return out.map((a) => a.trim()).filter((a) => a !== '')
}

function unquote(s: string): string | undefined {
  const m = /^\s*(['"])([^'"]*)\1\s*$/.exec(s)
  return m ? m[2]! : undefined
}
