/**
 * The built-in plugins, in one list. Priorities are unique (a test pins their order); higher runs
 * first within a phase. The plan, so that plugins added later slot in where Kong and APISIX put them:
 *
 * | plugin        | priority | | plugin        | priority |
 * | requestId     | 12000    | | keyAuth       | 2500     |
 * | ipRestriction | 11000    | | authorize     | 2400     |
 * | cors          | 10000    | | limitConn     | 1003     |
 * | openidConnect | 2600     | | limitCount    | 1002     |
 * | basicAuth     | 2520     | | limitReq      | 1001     |
 * | jwtAuth       | 2510     | | proxyCache    | 100      |
 * |               |          | | compression   | 40       |
 */
import type { AnyPlugin } from "../lifecycle/plugin.js";
import { authorize } from "./authorize/index.js";
import { basicAuth } from "./basic-auth/index.js";
import { compression } from "./compression/index.js";
import { cors } from "./cors/index.js";
import { ipRestriction } from "./ip-restriction/index.js";
import { jwtAuth } from "./jwt-auth/index.js";
import { keyAuth } from "./key-auth/index.js";
import { limitConn } from "./limit-conn/index.js";
import { limitCount } from "./limit-count/index.js";
import { limitReq } from "./limit-req/index.js";
import { openidConnect } from "./openid-connect/index.js";
import { proxyCache } from "./proxy-cache/index.js";
import { requestId } from "./request-id/index.js";

export const BUILTIN_PLUGINS: readonly AnyPlugin[] = [
  requestId,
  ipRestriction,
  cors,
  openidConnect,
  basicAuth,
  jwtAuth,
  keyAuth,
  authorize,
  limitConn,
  limitCount,
  limitReq,
  proxyCache,
  compression,
];
