// Which part of src/ may import which (the architecture's parts table: imports point down
// cli → server → lifecycle → upstream → http, no cycles), checked by `npm run lint:deps`, part of
// `npm run lint`. Each rule's comment is what the lint prints when it fails.
//
// Parsing: TypeScript 7's package has no JavaScript compiler API, so dependency-cruiser reads the
// sources with @swc/core (`parser: "swc"`). swc keeps type-only imports, so a cycle made only of
// `import type` counts too. `./x.js` specifiers resolve to `./x.ts` as tsc resolves them.
// dependency-cruiser stays on 17.x: 18 needs Node 22, and Portico supports Node 20.18.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles in src/ (type-only imports included): move the shared part one level down.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import the checker cannot resolve would hide its edge from every other rule.",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
    {
      name: "http-is-the-bottom",
      severity: "error",
      comment: "src/http holds the low-level helpers: from src/ it imports only src/errors.ts.",
      from: { path: "^src/http/" },
      to: { path: "^src/", pathNot: ["^src/http/", "^src/errors\\.ts$"] },
    },
    {
      name: "upstream-not-up",
      severity: "error",
      comment: "The upstream layer never imports the lifecycle, the compiler, the server, the CLI or a plugin.",
      from: { path: "^src/upstream/" },
      to: { path: "^src/(lifecycle|compile|server|cli|plugins)/" },
    },
    {
      name: "lifecycle-not-up",
      severity: "error",
      comment: "The lifecycle knows no plugin by name and never imports the compiler, the server or the CLI; it reads the Plan's types (compile/plan.ts).",
      from: { path: "^src/lifecycle/" },
      to: { path: "^src/(compile|server|cli|plugins)/", pathNot: "^src/compile/plan\\.ts$" },
    },
    {
      name: "router-not-up",
      severity: "error",
      comment: "The router matches locations: it imports neither the lifecycle nor the upstream layer nor anything above them.",
      from: { path: "^src/router/" },
      to: { path: "^src/(lifecycle|upstream|compile|server|cli|plugins)/" },
    },
    {
      name: "compile-not-up",
      severity: "error",
      comment: "The compiler turns a config into a Plan: it never imports the server or the CLI.",
      from: { path: "^src/compile/" },
      to: { path: "^src/(server|cli)/" },
    },
    {
      name: "plugin-not-other-plugin",
      severity: "error",
      comment: "A plugin never reaches into another plugin (nor the registry src/plugins/index.ts): share through a lower layer.",
      from: { path: "^src/plugins/([^/]+)/" },
      to: { path: "^src/plugins/", pathNot: "^src/plugins/$1/" },
    },
    {
      name: "plugin-not-up",
      severity: "error",
      comment: "A plugin never imports the server, the CLI or the compiler: what it needs is passed in.",
      from: { path: "^src/plugins/" },
      to: { path: "^src/(server|cli|compile)/" },
    },
    {
      name: "cli-only-from-bin",
      severity: "error",
      comment: "Nothing in the library imports src/cli: only bin/ (and the CLI's own files and tests) do.",
      from: { pathNot: "^(src/cli/|bin/|test/)" },
      to: { path: "^src/cli/" },
    },
  ],
  options: {
    parser: "swc",
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["^src/server/dashboard/"] },
    moduleSystems: ["es6", "cjs"],
    enhancedResolveOptions: {
      extensions: [".ts", ".js", ".json"],
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
