#!/usr/bin/env node
// The command is built from src/cli by `npm run build` (run by `npm ci` through `prepare`).
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
