/**
 * A small browser for the OIDC tests: node:http with a cookie jar (per host, like browsers:
 * ports do not separate cookies), following redirects across Portico and the provider, and
 * submitting the provider's forms (login, consent, logout confirmation).
 */
import { type HttpResult, request } from "../../helpers/gateway.js";

interface StoredCookie {
  value: string;
  expires: number | null;
}

export interface Hop {
  url: string;
  status: number;
  location?: string | undefined;
  setCookie: string[];
}

export interface BrowserResult extends HttpResult {
  url: string;
  hops: Hop[];
}

const HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

export class Browser {
  /** host → name → cookie */
  readonly jar = new Map<string, Map<string, StoredCookie>>();

  cookies(url: string): Map<string, string> {
    const host = new URL(url).hostname;
    const out = new Map<string, string>();
    const now = Date.now();
    for (const [name, cookie] of this.jar.get(host) ?? []) if (cookie.expires === null || cookie.expires > now) out.set(name, cookie.value);
    return out;
  }

  setCookie(url: string, name: string, value: string): void {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)?.set(name, { value, expires: null });
  }

  #store(url: string, header: string[] | undefined): void {
    if (!header) return;
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    const cookies = this.jar.get(host) as Map<string, StoredCookie>;
    for (const line of header) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expires: number | null = null;
      for (const attribute of attributes) {
        const [key = "", val = ""] = attribute.trim().split("=");
        if (key.toLowerCase() === "max-age") expires = Date.now() + Number(val) * 1000;
        else if (key.toLowerCase() === "expires" && expires === null) expires = Date.parse(val);
      }
      if (expires !== null && expires <= Date.now()) cookies.delete(name);
      else cookies.set(name, { value, expires });
    }
  }

  /** One request with the jar's cookies, no redirect following. */
  async fetchOnce(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
    const cookie = [...this.cookies(url)].map(([name, value]) => `${name}=${value}`).join("; ");
    const headers: Record<string, string> = { accept: HTML_ACCEPT, ...options.headers };
    if (cookie) headers.cookie = cookie;
    const result = await request(url, { method: options.method ?? "GET", headers, ...(options.body !== undefined ? { body: options.body } : {}) });
    this.#store(url, result.headers["set-cookie"]);
    return result;
  }

  /** A request, then the redirects it leads to (as a browser: 301/302/303 become GET). */
  async go(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<BrowserResult> {
    const hops: Hop[] = [];
    let current = url;
    let opts = options;
    for (let i = 0; i < 20; i++) {
      const result = await this.fetchOnce(current, opts);
      const location = result.headers.location;
      hops.push({ url: current, status: result.status, location, setCookie: result.headers["set-cookie"] ?? [] });
      if (result.status < 300 || result.status >= 400 || !location) return { ...result, url: current, hops };
      current = new URL(location, current).href;
      const { "content-type": _type, ...headers } = options.headers ?? {};
      opts = { headers };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits the first form of a page: hidden fields, then `fields`. */
  async submit(page: BrowserResult, fields: Record<string, string> = {}): Promise<BrowserResult> {
    const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page.text);
    if (!form) throw new Error(`no form at ${page.url} (${page.status}): ${page.text.slice(0, 300)}`);
    const action = decodeEntities(/action="([^"]*)"/i.exec(form[1] as string)?.[1] ?? page.url);
    const body = new URLSearchParams();
    for (const input of (form[2] as string).matchAll(/<input\b([^>]*)>/gi)) {
      const attrs = input[1] as string;
      const name = /name="([^"]*)"/i.exec(attrs)?.[1];
      const value = /value="([^"]*)"/i.exec(attrs)?.[1] ?? "";
      if (name && /type="hidden"/i.test(attrs)) body.set(name, decodeEntities(value));
    }
    for (const [name, value] of Object.entries(fields)) body.set(name, value);
    return this.go(new URL(action, page.url).href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: body.toString(),
    });
  }

  /**
   * Opens `url` (a protected page), logs in at the provider as `login`, grants consent if asked,
   * and returns where the browser ends up (the protected page again, normally).
   */
  async login(url: string, login = "alice"): Promise<BrowserResult> {
    let page = await this.go(url);
    for (let step = 0; step < 4; step++) {
      if (/name="login"/.test(page.text)) page = await this.submit(page, { login, password: "any" });
      else if (/name="prompt" value="consent"/.test(page.text)) page = await this.submit(page);
      else return page;
    }
    return page;
  }
}
