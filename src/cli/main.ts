/**
 * `portico start | check | routes | schema`: thin wrappers over the library. Errors a person
 * made get one line each, never a stack trace.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { configJsonSchema } from "../config/schema.js";
import { checkConfig } from "../gateway.js";
import { BUILTIN_PLUGINS } from "../plugins/index.js";
import { cachePurge } from "./cache.js";
import { importNginxCommand } from "./import-nginx.js";
import { formatForCli, printConfigError } from "./output.js";
import { explainRoute } from "./routes.js";
import { start } from "./start.js";

const USAGE = `Usage:
  portico start  -c FILE                  serve in the foreground (SIGHUP reloads, SIGTERM stops)
  portico check  -c FILE                  validate like nginx -t (exit 0 valid, 1 invalid)
  portico routes -c FILE [METHOD] URL     which virtual host and location a request lands in, and why
                 [--host HOST] [--json]
  portico cache purge -c FILE             purge proxyCache entries: --key KEY or --prefix PREFIX [--zone ZONE]
  portico schema                          print the config's JSON Schema
  portico import-nginx FILE [-o OUT]      nginx/OpenResty config to Portico YAML (exit 0 all carried, 2 with TODOs, 1 bad syntax)
  portico --version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`portico: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.version) {
    process.stdout.write(`portico ${version()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === "import-nginx") {
    if (!rest[0]) {
      process.stderr.write("portico import-nginx: give the nginx config, e.g. portico import-nginx /etc/nginx/nginx.conf -o portico.yaml\n");
      return 2;
    }
    return importNginxCommand(rest[0], values.output);
  }
  if (command === "schema") {
    process.stdout.write(`${JSON.stringify(configJsonSchema(BUILTIN_PLUGINS), null, 2)}\n`);
    return 0;
  }
  const file = values.config;
  if (!file) {
    process.stderr.write(`portico ${command}: give the config file with -c FILE\n`);
    return 2;
  }
  switch (command) {
    case "start":
      return start(file);
    case "check":
      try {
        const { warnings } = await checkConfig(file);
        for (const warning of warnings) process.stderr.write(`${formatForCli(warning, file)}\n`);
        process.stdout.write(`${file}: the configuration is valid${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? "s" : ""})` : ""}\n`);
        return 0;
      } catch (error) {
        printConfigError(error, file);
        return 1;
      }
    case "cache": {
      if (rest[0] !== "purge") {
        process.stderr.write("portico cache: the command is `portico cache purge -c FILE (--key KEY | --prefix PREFIX) [--zone ZONE]`\n");
        return 2;
      }
      return cachePurge(file, { key: values.key, prefix: values.prefix, zone: values.zone });
    }
    case "routes": {
      const [method, url] = rest.length >= 2 ? [rest[0] as string, rest[1] as string] : ["GET", rest[0]];
      if (!url) {
        process.stderr.write(`portico routes: give the URL to explain, e.g. portico routes -c ${file} GET /proxy/anything\n`);
        return 2;
      }
      return explainRoute(file, method.toUpperCase(), url, values.host, values.json ?? false);
    }
    default:
      process.stderr.write(`portico: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      host: { type: "string" },
      json: { type: "boolean" },
      key: { type: "string" },
      prefix: { type: "string" },
      zone: { type: "string" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}
