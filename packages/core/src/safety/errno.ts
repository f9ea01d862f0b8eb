export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

/** A short random tag for temp names, so two processes (or two calls) never share one. */
export function randomTag(): string {
  return Math.random().toString(36).slice(2, 8)
}
