import {finished, type Writable} from 'node:stream'

/**
 * Ends a child's stdin and calls back once it has finished, or once it is gone (the child exited first).
 * Not `stdin.end(callback)`: when the child's exit has already destroyed its stdin, Node never calls that callback,
 * and whoever waits on it (a pipeline feeding psql, a compressor's input) hangs for good.
 */
export function endInput(stdin: Writable, callback: (error?: Error) => void): void {
  finished(stdin, {readable: false}, (error) => callback(error ?? undefined))
  stdin.end()
}
