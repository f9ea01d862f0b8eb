/**
 * Ends a command or hook with `code` through its own `exit` (oclif's ExitError), marked so that oclif's error handler
 * prints nothing more, whichever copy of oclif threw it. The handler tells its own ExitError by instanceof: an exit
 * thrown by another copy would print as 'Error: EEXIT: 2' under the line already written. There are several: bk
 * runs the one bundled in this package, a plugin installed by `bk plugins install` brings its own, and oclif's
 * plugins command runs bk's install hook from its own config.
 */
export function quietExit(context: {exit(code: number): void}, code: number): never {
  try {
    context.exit(code)
  } catch (error) {
    throw markQuiet(error)
  }
  // an exit that returned (a stub): the caller still must not go on
  throw markQuiet(Object.assign(new Error(`EEXIT: ${code}`), {code: 'EEXIT', oclif: {exit: code}}))
}

/** Marks oclif's exit error `error` for its handler to pass through silently (see quietExit). */
export function markQuiet(error: unknown): unknown {
  if (error && typeof error === 'object') (error as {skipOclifErrorHandling?: boolean}).skipOclifErrorHandling = true
  return error
}
