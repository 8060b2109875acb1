// The specs and the config run in Node, but the workspace's tsconfig has no Node types (and the
// lock file no @types/node): declare the few Node globals and functions they use.
declare const process: { env: Record<string, string | undefined> };

declare module "node:fs" {
  export function writeFileSync(path: string, data: Uint8Array): void;
  export function existsSync(path: string): boolean;
}

interface NodeBuffer extends Uint8Array {
  toString(encoding?: "base64"): string;
}
declare const Buffer: { from(data: string, encoding?: "base64" | "utf8"): NodeBuffer };
