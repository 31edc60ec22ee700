/** The importer's result types, and the state it keeps per nginx level while it reads one. */
import type { Directive } from "../parser.js";

export type NoteKind = "todo" | "ignored" | "warning";

export interface ImportNote {
  kind: NoteKind;
  /** File relative to the main file's directory, and line. */
  file: string;
  line: number;
  directive: string;
  /** The directive as written (whole block for a block). */
  original: string;
  /** What to do about it. */
  hint: string;
  /** Keys of the config node it belongs to ([] for the top). */
  path: string[];
}

export interface ConvertOptions {
  /** The nginx conf prefix: relative paths in the config (htpasswd, certificates) are resolved against it. */
  prefix: string;
  /** Directory the Portico config will be written to: file paths are made relative to it; absolute when absent. */
  outDir?: string;
}

export interface ConvertResult {
  config: Record<string, unknown>;
  notes: ImportNote[];
}

export type Obj = Record<string, unknown>;

/** One level of nginx's config (http, server, location) while it is read. */
export interface Level {
  kind: "http" | "server" | "location";
  parent: Level | null;
  /** Where its settings go in the output. */
  path: string[];
  out: Obj;
  proxySetHeader: Array<[string, string, Directive]> | null;
  addHeader: Array<[string, string, Directive]> | null;
  access: Directive[] | null;
  limitReq: Directive[] | null;
  limitReqStatus?: Directive;
  authBasic?: Directive;
  authBasicUserFile?: Directive;
  gzip: Map<string, Directive>;
}

export interface ServerInfo {
  key: string;
  names: string[];
  out: Obj;
  listens: Array<{ addr?: string; port: number; ssl: boolean }>;
  isDefault: boolean;
  directive: Directive;
  /** A server whose only answer is a server-level `return 301 https://…` (the classic HTTP → HTTPS server). */
  redirectsToHttps: boolean;
}

/** A limit_req_zone, read before the servers that refer to it. */
export interface ReqZone {
  key: string;
  rate: string;
  size: number | null;
  directive: Directive;
}

export function newLevel(kind: Level["kind"], parent: Level | null, path: string[], out: Obj): Level {
  return { kind, parent, path, out, proxySetHeader: null, addHeader: null, access: null, limitReq: null, gzip: new Map() };
}
