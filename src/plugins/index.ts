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
import type { AnyPlugin } from "../pipeline/plugin.js";

export const BUILTIN_PLUGINS: readonly AnyPlugin[] = [];
