/**
 * The one interface of limitReq's stores: nginx's leaky bucket (ngx_http_limit_req_module).
 * `rate` is in requests per 1000 s and `burst` in milli-requests, as nginx keeps them.
 */
export interface ReqVerdict {
  /** False: over the burst, refused (the state is left as it was). */
  allowed: boolean;
  /** The excess, in milli-requests, after this request (when allowed) or with it (when refused). */
  excess: number;
}

export interface ReqStore {
  take(key: string): ReqVerdict | Promise<ReqVerdict>;
  close?(): void;
}

/**
 * ngx_http_limit_req_lookup: the bucket leaks `rate` milli-requests a second; each request adds
 * 1000. Over `burst`, the request is refused without touching the state.
 */
export function leak(excess: number, last: number, now: number, rate: number): number {
  let ms = now - last;
  if (ms < -60_000) ms = 1;
  else if (ms < 0) ms = 0;
  const next = excess - Math.trunc((rate * ms) / 1000) + 1000;
  return Math.max(next, 0);
}
