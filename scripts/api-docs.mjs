#!/usr/bin/env node
// Generates packages/core/API-REFERENCE.md from the TSDoc comments of every export of @bkcli/core, grouped by
// subpath. `--check` exits 1 when the committed file differs or an export has no TSDoc comment (the test runs it).
import {readFileSync, writeFileSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const core = join(root, 'packages/core')
const out = join(core, 'API-REFERENCE.md')
const program = ts.createProgram([join(core, 'src/index.ts')], {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
})
const checker = program.getTypeChecker()
const index = program.getSourceFile(join(core, 'src/index.ts'))
const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(index))

function kindOf(decl) {
  if (ts.isFunctionDeclaration(decl)) return 'function'
  if (ts.isClassDeclaration(decl)) return 'class'
  if (ts.isInterfaceDeclaration(decl)) return 'interface'
  if (ts.isTypeAliasDeclaration(decl)) return 'type'
  if (ts.isVariableDeclaration(decl)) return 'const'
  return 'export'
}

/** Types the checker prints as import("<this machine's path>/node_modules/…") name their package instead. */
function portable(text) {
  return text.replace(
    /import\("[^"]*\/node_modules\/(?:@types\/)?((?:@[^/"]+\/)?[^/"]+)((?:\/[^"]*)?)"\)/g,
    (_, pkg, rest) => `import("${pkg}${rest.replace(/\/index$/, '')}")`,
  )
}

function signature(symbol, decl) {
  return portable(rawSignature(symbol, decl))
}

function rawSignature(symbol, decl) {
  if (ts.isFunctionDeclaration(decl) && decl.type && symbol.declarations.length === 1) {
    // as written: keeps the aliases (Promise<PgDriver>) the checker would expand
    const generics = decl.typeParameters ? `<${decl.typeParameters.map((t) => t.getText()).join(', ')}>` : ''
    const params = decl.parameters.map((p) => p.getText().replace(/\s+/g, ' ')).join(', ')
    return `${symbol.name}${generics}(${params}): ${decl.type.getText().replace(/\s+/g, ' ')}`
  }
  if (ts.isFunctionDeclaration(decl)) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, decl)
    return type
      .getCallSignatures()
      .map((s) => `${symbol.name}${checker.signatureToString(s).replace(/\s+/g, ' ')}`)
      .join('\n')
  }
  if (ts.isVariableDeclaration(decl)) {
    const text = checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, decl)).replace(/\s+/g, ' ')
    return `const ${symbol.name}: ${text.length > 160 ? `${text.slice(0, 157)}...` : text}`
  }
  if (ts.isTypeAliasDeclaration(decl)) {
    const text = decl.type.getText().replace(/\s+/g, ' ')
    return `type ${symbol.name} = ${text.length > 160 ? `${text.slice(0, 157)}...` : text}`
  }
  if (ts.isClassDeclaration(decl)) return `class ${symbol.name}`
  if (ts.isInterfaceDeclaration(decl)) {
    const members = decl.members.map(
      (m) =>
        `  ${m
          .getText()
          .replace(/\/\*\*[\s\S]*?\*\/\s*/g, '')
          .replace(/\s+/g, ' ')}`,
    )
    return `interface ${symbol.name} {\n${members.join('\n')}\n}`
  }
  return symbol.name
}

const groups = new Map()
const undocumented = []
for (const exported of exports) {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
  const decl = symbol.declarations?.[0]
  if (!decl) continue
  const file = relative(join(core, 'src'), decl.getSourceFile().fileName)
  const group = file.includes('/') ? file.split('/')[0] : file.replace(/\.ts$/, '')
  const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim()
  if (!doc) undocumented.push(`${exported.name} (src/${file})`)
  const entry = {name: exported.name, kind: kindOf(decl), file, doc, signature: signature(symbol, decl)}
  groups.set(group, [...(groups.get(group) ?? []), entry])
}

let text = `# @bkcli/core — API reference\n\nGenerated from the TSDoc comments by \`node scripts/api-docs.mjs\`; do not edit.\nThe guide is [API.md](API.md); the workflow contract is [WORKFLOW.md](WORKFLOW.md).\nEvery name is exported from \`@bkcli/core\` and from its subpath (\`@bkcli/core/<group>\`).\n`
for (const group of [...groups.keys()].sort()) {
  text += `\n## ${group}\n`
  for (const e of groups.get(group).sort((a, b) => a.name.localeCompare(b.name))) {
    text += `\n### \`${e.name}\` (${e.kind}, src/${e.file})\n\n${e.doc || '_undocumented_'}\n\n\`\`\`ts\n${e.signature}\n\`\`\`\n`
  }
}

if (process.argv.includes('--check')) {
  let failed = false
  if (undocumented.length > 0) {
    console.error(`api-docs: ${undocumented.length} exports have no TSDoc comment:\n  ${undocumented.join('\n  ')}`)
    failed = true
  }
  let committed = ''
  try {
    committed = readFileSync(out, 'utf8')
  } catch {}
  if (committed !== text) {
    console.error('api-docs: packages/core/API-REFERENCE.md is out of date; run: node scripts/api-docs.mjs')
    failed = true
  }
  process.exit(failed ? 1 : 0)
}
writeFileSync(out, text)
console.log(`api-docs: ${exports.length} exports, ${undocumented.length} without TSDoc`)
