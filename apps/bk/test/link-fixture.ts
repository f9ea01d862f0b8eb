import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, tempDir} from '@bkcli/testkit'

/** The package name of the third-party plugin `checkout()` makes (topic `hello`, command `hello world`). */
export const NAME = 'bk-plugin-hello'

/**
 * A plugin checkout in a temp folder: package.json and, when `built`, its compiled command; `core` (the workspace's
 * by default) linked in as its @bkcli/core.
 */
export function checkout(built = true, core = join(repoRoot(), 'packages', 'core')): string {
  const dir = join(tempDir('bk-link-'), 'hello')
  mkdirSync(join(dir, 'node_modules', '@bkcli'), {recursive: true})
  symlinkSync(core, join(dir, 'node_modules', '@bkcli', 'core'))
  const oclif = {commands: './dist/commands', topicSeparator: ' ', topics: {hello: {description: 'Greets.'}}}
  const pjson = {name: NAME, version: '1.0.0', type: 'module', dependencies: {'@bkcli/core': '^0.1.0'}, oclif}
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pjson, null, 2))
  if (built) build(dir)
  return dir
}

/** Compiles the checkout: writes its one command, `hello world [--name <who>]`. */
export function build(dir: string): void {
  mkdirSync(join(dir, 'dist', 'commands', 'hello'), {recursive: true})
  writeFileSync(
    join(dir, 'dist', 'commands', 'hello', 'world.js'),
    [
      "import {Command, Flags} from '@bkcli/core/oclif'",
      'export default class World extends Command {',
      "  static description = 'Say hello.'",
      "  static flags = {name: Flags.string({default: 'world'})}",
      '  async run() {',
      '    const {flags} = await this.parse(World)',
      "    this.log('hello ' + flags.name)",
      '  }',
      '}',
      '',
    ].join('\n'),
  )
}
