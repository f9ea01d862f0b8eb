import type {Readable} from 'node:stream'
import {BkError, isBkError} from '@bkcli/core/errors'
import {runTool, runToolSync, startTool, whichProgram} from '@bkcli/core/process'

/**
 * Drives `docker compose` for a stack folder (IOTstack runs compose from the stack root, so compose finds
 * docker-compose.yml, docker-compose.override.yml and .env itself). Falls back to the v1 `docker-compose`.
 * Secrets never go through argv: scripts run in a container refer to the container's own environment.
 */
export class ComposeDriver {
  private constructor(
    readonly dir: string,
    private readonly command: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** `docker compose` when the plugin answers, else `docker-compose`, else a BkError saying what to install. */
  static async open(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ComposeDriver> {
    // (the PATH the probe would run with; execvp's own default where none is set)
    const path = env.PATH ?? process.env.PATH ?? '/usr/bin:/bin'
    for (const command of [['docker', 'compose'], ['docker-compose']] as const) {
      // a program not on PATH is not started only to fail: a spawn copies bk's memory map (tens of ms), and
      // docker-compose v1 is missing on most machines that have docker without the compose plugin
      if (!(await whichProgram(command[0], path))) continue
      const probe = await runTool(command[0], [...command.slice(1), 'version'], {
        cwd: dir,
        env,
        stdout: 'ignore',
        stderr: 'ignore',
      }).then(
        () => true,
        (error: unknown) => {
          if (isBkError(error) && (error.code === 'ETOOL' || error.code === 'ENOTOOL')) return false
          throw error
        },
      )
      if (probe) return new ComposeDriver(dir, command, env)
    }
    throw new BkError(
      'neither `docker compose` nor `docker-compose` works here: install Docker Compose, or leave out --stop/--dump-databases',
    )
  }

  /** The command line bk uses, for logs: `docker compose` or `docker-compose`. */
  get name(): string {
    return this.command.join(' ')
  }

  /** True when at least one container of the project is running. */
  async isUp(): Promise<boolean> {
    const result = await this.run(['ps', '-q'])
    return result.trim() !== ''
  }

  async down(): Promise<void> {
    await this.run(['down'])
  }

  async up(services: string[] = []): Promise<void> {
    await this.run(['up', '-d', ...services])
  }

  /** `up -d`, synchronously: for a signal handler (the process exits right after). True when it succeeded. */
  upSync(): boolean {
    return runToolSync(this.command[0]!, [...this.command.slice(1), 'up', '-d'], {cwd: this.dir, env: this.env}) === 0
  }

  /** `exec -T <service> sh -c <script>`, streaming `input` into it and handing its stdout to `output`. */
  async exec(
    service: string,
    script: string,
    io: {input?: Readable; output?: (stdout: Readable) => Promise<void>} = {},
  ): Promise<void> {
    const {child, done} = await startTool(
      this.command[0]!,
      [...this.command.slice(1), 'exec', '-T', service, 'sh', '-c', script],
      {
        cwd: this.dir,
        env: this.env,
        ...(io.input ? {input: io.input} : {}),
        stdout: io.output ? 'pipe' : 'ignore',
        label: `${this.name} exec ${service}`,
      },
    )
    const draining = io.output && child.stdout ? io.output(child.stdout) : Promise.resolve()
    const [, drainError] = await Promise.all([
      done,
      draining.then(
        () => undefined,
        (e: Error) => e,
      ),
    ])
    if (drainError) throw new BkError(`cannot write the output of ${service}: ${drainError.message}`)
  }

  private async run(args: string[]): Promise<string> {
    const result = await runTool(this.command[0]!, [...this.command.slice(1), ...args], {
      cwd: this.dir,
      env: this.env,
      label: `${this.name} ${args.join(' ')}`,
    })
    return result.stdout
  }
}
