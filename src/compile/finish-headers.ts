/** Server and addHeader (nginx add_header), appended to a response's header list by status. */
import type { OutgoingHttpHeaders } from "node:http";
import type { FieldPath } from "../config/source.js";
import { toHeaderList } from "../http/header-list.js";
import { SERVER_NAME } from "../http/respond.js";
import { compileTemplate, type VariableSource } from "../http/variables.js";
import type { Report } from "./report.js";
import { templateMessage } from "./template-message.js";

/** nginx add_header applies to these statuses unless the value ends in " always". */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

export type FinishHeaders = (status: number, headers: string[]) => void;

export function compileFinishHeaders(
  addHeader: Readonly<Record<string, string>> | undefined,
  field: FieldPath,
  vars: Readonly<Record<string, unknown>>,
  report: Report,
): FinishHeaders {
  const plain: string[] = [];
  const always: string[] = [];
  for (const [name, raw] of Object.entries(addHeader ?? {})) {
    const isAlways = /\s+always$/.test(raw);
    const value = isAlways ? raw.replace(/\s+always$/, "") : raw;
    try {
      const template = compileTemplate(value, vars);
      if (!template.isConstant) {
        report.error([...field, name], "variables in addHeader values are not supported yet: use a headerFilter hook");
        continue;
      }
      (isAlways ? always : plain).push(name, template(null as unknown as VariableSource));
    } catch (err) {
      report.error([...field, name], templateMessage(err, vars));
    }
  }
  if (plain.length === 0 && always.length === 0) {
    return function finishHeaders(_status, headers) {
      headers.push("Server", SERVER_NAME);
    };
  }
  return function finishHeaders(status, headers) {
    headers.push("Server", SERVER_NAME);
    if (ADD_HEADER_STATUSES.has(status)) for (const item of plain) headers.push(item);
    for (const item of always) headers.push(item);
  };
}

/** A response's headers as the list that goes out: its own, then Server and addHeader. */
export function finishedList(status: number, headers: OutgoingHttpHeaders, finish: FinishHeaders): string[] {
  const list = toHeaderList(headers);
  finish(status, list);
  return list;
}
