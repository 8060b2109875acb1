// The specs and the config run in Node, but the workspace's tsconfig has no Node types (and the
// lock file no @types/node): declare the one global they read.
declare const process: { env: Record<string, string | undefined> };
