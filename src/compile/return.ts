/**
 * nginx `return`: "CODE [TEXT|URL]", "URL" (302) or a bare code, compiled into a renderer, and,
 * when it reads no variable, into the finished answer itself (header list and string body).
 */
import type { OutgoingHttpHeaders } from "node:http";
import { statusPage } from "../http/respond.js";
import { compileTemplate, redirectBase, type Template, type VariableSource } from "../http/variables.js";
import { type FinishHeaders, finishedList } from "./finish-headers.js";
import type { LocationAnswer, ReturnRenderer } from "./plan.js";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function parseReturn(value: string | number): { status: number; text: string | null } | string {
  if (typeof value === "number") return value >= 100 && value <= 999 ? { status: value, text: null } : `status ${value} is not a 3-digit code`;
  const trimmed = value.trim();
  if (/^(https?:\/\/|\$scheme)/.test(trimmed)) return { status: 302, text: trimmed };
  const match = /^(\d{3})(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) return `expected "CODE", "CODE TEXT" or "CODE URL" such as "200 'Hello'" or "301 https://$host$request_uri", got ${JSON.stringify(value)}`;
  let text = match[2] ?? null;
  // nginx strips one level of quotes: return 200 'Hello World!';
  if (text && /^(['"])[\s\S]*\1$/.test(text) && text.length >= 2) text = text.slice(1, -1);
  return { status: Number(match[1]), text };
}

/** Throws a template's error, or an Error for a redirect without a URL. */
export function compileReturn(
  status: number,
  text: string | null,
  defaultType: string,
  vars: Readonly<Record<string, unknown>>,
): { render: ReturnRenderer; needsVars: boolean } {
  const template: Template | null = text === null ? null : compileTemplate(text, vars);
  if (REDIRECT_STATUSES.has(status)) {
    if (!template) throw new Error(`return ${status} needs a URL: "${status} https://example.com$request_uri"`);
    const body = Buffer.from(statusPage(status));
    const headers = (location: string): OutgoingHttpHeaders => ({ "Content-Type": "text/html", "Content-Length": String(body.length), Location: location });
    if (template.text.startsWith("/")) {
      // A relative target is made absolute, as nginx's absolute_redirect does by default.
      return {
        render: (source) => {
          const s = source as VariableSource;
          return { status, headers: headers(redirectBase(s.scheme, s.host, s.req) + template(s)), body };
        },
        needsVars: true,
      };
    }
    return { render: (source) => ({ status, headers: headers(template(source as VariableSource)), body }), needsVars: !template.isConstant };
  }
  if (!template) {
    const body = status >= 300 && status !== 304 ? Buffer.from(statusPage(status)) : Buffer.alloc(0);
    // RFC 9110 8.6: a 204 (or 304) carries no Content-Length.
    const headers: OutgoingHttpHeaders =
      body.length > 0
        ? { "Content-Type": "text/html", "Content-Length": String(body.length) }
        : status === 204 || status === 304
          ? {}
          : { "Content-Length": "0" };
    return { render: () => ({ status, headers, body }), needsVars: false };
  }
  if (template.isConstant) {
    const body = Buffer.from(template(null as unknown as VariableSource));
    const headers: OutgoingHttpHeaders = { "Content-Type": defaultType, "Content-Length": String(body.length) };
    return { render: () => ({ status, headers, body }), needsVars: false };
  }
  return {
    render: (source) => {
      const body = Buffer.from(template(source as VariableSource));
      return { status, headers: { "Content-Type": defaultType, "Content-Length": String(body.length) }, body };
    },
    needsVars: true,
  };
}

/**
 * The answer of a `return` location. Without variables it is rendered now: the finished header
 * list and a string body (Node then sends head and body in one write; a Buffer costs a writev).
 * 444 stays a constant too: the lifecycle closes the connection for it.
 */
export function returnAnswer(render: ReturnRenderer, needsVars: boolean, finishHeaders: FinishHeaders): Extract<LocationAnswer, { kind: "return" }> {
  if (needsVars) return { kind: "return", render, constant: null };
  const out = render(null);
  return {
    kind: "return",
    render,
    constant: { status: out.status, headers: finishedList(out.status, out.headers, finishHeaders), body: out.body.toString("utf8") },
  };
}
