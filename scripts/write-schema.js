// Writes the config's JSON Schema next to the build, for editors and other tools (package export "portico/schema.json").
import { writeFileSync } from "node:fs";
import { configJsonSchema } from "../dist/config/schema.js";
import { BUILTIN_PLUGINS } from "../dist/plugins/index.js";

writeFileSync(new URL("../dist/portico.schema.json", import.meta.url), `${JSON.stringify(configJsonSchema(BUILTIN_PLUGINS), null, 2)}\n`);
