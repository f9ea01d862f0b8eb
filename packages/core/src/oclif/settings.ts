// Types of @oclif/core/settings: bk imports it through this subpath, whose code is the one-file build of it (scripts/oclif-bundle.mjs).
export * from '@oclif/core/settings'
