/** `upstream NAME { … }` → upstreams.NAME: servers with their parameters, keepalive, balancing. */
import { TIME_PATTERN } from "../../../config/schema.js";
import type { Directive } from "../parser.js";
import { convertOther } from "./common.js";
import type { ConvertContext } from "./context.js";
import type { Obj } from "./types.js";

export function convertUpstream(ctx: ConvertContext, d: Directive): void {
  const name = d.args[0];
  const path = ["upstreams", name ?? ""];
  if (d.args.length !== 1 || name === undefined || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    ctx.todo(d, ["upstreams"], "an upstream name of letters, digits, _ . -");
    return;
  }
  const servers: Record<string, Obj> = {};
  const upstream: Obj = {};
  for (const s of d.block ?? []) {
    const single = s.args[0];
    switch (s.name) {
      case "server": {
        const [address, ...params] = s.args;
        if (address === undefined || address.startsWith("unix:")) {
          ctx.todo(s, path, "Portico reaches upstreams over TCP only");
          continue;
        }
        const hostPort = /:\d+$/.test(address) && !/^\[[^\]]*\]$/.test(address) ? address : `${address}:80`;
        const options: Obj = {};
        for (const param of params) {
          const [key, value] = param.split("=", 2) as [string, string | undefined];
          if (key === "weight" && value && /^\d+$/.test(value)) options.weight = Number(value);
          else if (key === "max_fails" && value && /^\d+$/.test(value)) options.maxFails = Number(value);
          else if (key === "fail_timeout" && value && TIME_PATTERN.test(value)) options.failTimeout = value;
          else if (key === "backup" && value === undefined) options.backup = true;
          else if (key === "down" && value === undefined) options.down = true;
          else ctx.todo(s, path, `the server parameter "${param}" has no Portico equivalent`);
        }
        servers[hostPort] = options;
        break;
      }
      case "keepalive":
        if (single && /^\d+$/.test(single)) upstream.keepalive = Number(single);
        break;
      case "least_conn":
        upstream.loadBalancing = "leastConn";
        break;
      case "random":
        if (s.args.includes("two")) upstream.loadBalancing = "random2";
        else ctx.todo(s, path, "random without `two`: Portico has random2 (power of two choices)");
        break;
      case "ip_hash":
        upstream.loadBalancing = "hash";
        upstream.hashKey = "$remote_addr";
        ctx.warn(s, path, "carried as a consistent hash of $remote_addr (nginx's ip_hash hashes the first three octets of an IPv4 address)");
        break;
      case "hash":
        if (single === undefined) ctx.todo(s, path, "hash needs a key");
        else {
          upstream.loadBalancing = "hash";
          upstream.hashKey = single;
          if (!s.args.includes("consistent")) ctx.warn(s, path, "carried as a consistent hash (ketama); nginx's plain hash maps keys differently");
        }
        break;
      case "keepalive_timeout":
      case "keepalive_requests":
      case "keepalive_time":
      case "zone":
        break;
      default:
        convertOther(ctx, s, path);
    }
  }
  if (Object.keys(servers).length === 0) {
    ctx.todo(d, ["upstreams"], "an upstream without a server Portico can reach");
    return;
  }
  const plain = Object.values(servers).every((options) => Object.keys(options).length === 0);
  ctx.upstreams[name] = { servers: plain ? Object.keys(servers) : servers, ...upstream };
}
