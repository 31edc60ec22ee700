// oidc-provider ships no type declarations: the little of it that test/fixtures/oidc-provider.ts uses.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface ProviderContext {
    body: unknown;
  }
  interface ProviderClient {
    grantTypeAllowed(type: string): boolean;
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (ctx: unknown, error: Error) => void): this;
    readonly Client: { prototype: unknown };
  }
  export type { ProviderClient, ProviderContext };
}
