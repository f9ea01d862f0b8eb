/**
 * Warnings from the library layer (e.g. an archive read with a repair): they go to the running command, which
 * honours --quiet and --json; outside a command, to stderr.
 */
let output: (message: string) => void = (message) => process.stderr.write(`bk: warning: ${message}\n`)

/** Where library warnings go from now on (BkCommand sets its own `note`). */
export function setWarningOutput(write: (message: string) => void): void {
  output = write
}

/** Report a warning through the current output. */
export function warn(message: string): void {
  output(message)
}
