/** Shared set-up of the openidConnect tests: a provider, an echo upstream and a gateway in front. */
import type { TestContext } from "node:test";
import type { PorticoConfig } from "../../../src/config/schema.js";
import type { GatewayOptions } from "../../../src/gateway.js";
import type { EchoRecord, EchoUpstream } from "../../fixtures/echo-upstream.js";
import { type OidcProviderHandle, type OidcProviderOptions, startOidcProvider } from "../../fixtures/oidc-provider.js";
import { type StartedGateway, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";

export const SESSION_SECRET = "a-session-secret-of-at-least-32-characters!";

export interface OidcSetup {
  op: OidcProviderHandle;
  echo: EchoUpstream;
  gw: StartedGateway;
  /** The upstream's view of the last request it got. */
  last(): EchoRecord;
}

type OidcConf = NonNullable<PorticoConfig["openidConnect"]>;

/** A gateway with `/` protected by openidConnect (config merged over the defaults here) and `/public` open. */
export async function setup(
  t: TestContext,
  conf: Partial<Exclude<OidcConf, false>> = {},
  options: { provider?: OidcProviderOptions; top?: Omit<PorticoConfig, "virtualHosts">; gateway?: GatewayOptions } = {},
): Promise<OidcSetup> {
  const op = await startOidcProvider(t, options.provider);
  const echo = await startEcho(t);
  const plugin = {
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    redirectUri: "/callback",
    sessionSecret: SESSION_SECRET,
    scopes: ["openid", "email", "profile"],
    ...conf,
  } as Exclude<OidcConf, false>;
  const gw = await startGateway(
    t,
    singleHost(
      {
        "/": { proxyPass: echo.origin, openidConnect: plugin },
        "/public": { proxyPass: echo.origin },
      },
      options.top,
    ),
    options.gateway,
  );
  return {
    op,
    echo,
    gw,
    last: () => {
      const record = echo.seen.at(-1);
      if (!record) throw new Error("the upstream saw nothing");
      return record;
    },
  };
}

/** JSON body of an echo answer. */
export function echoed(text: string): { path: string; headers: Record<string, string> } {
  return JSON.parse(text) as { path: string; headers: Record<string, string> };
}
