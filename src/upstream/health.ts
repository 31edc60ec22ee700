/**
 * Upstream server health: passive (nginx max_fails/fail_timeout), active (a periodic HTTP check)
 * and the circuit breaker, folded into one `blocked` bit set per server so that the balancers'
 * hot path is one integer test: `state.blocked === 0` means "take it", anything else is looked
 * at closely (and may clear itself, as a failTimeout that has run out).
 *
 * The state of a server (PeerState) is owned by the gateway's UpstreamRegistry, keyed by upstream
 * name and address: a reload that keeps a server keeps its counters, its breaker and its checks.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Logger } from "pino";
import { upstreamHealth } from "../observability/channels.js";
import { type BreakerOptions, type BreakerPhase, BreakerState, breakerAllows, breakerRecord } from "./circuit-breaker.js";

export const BLOCK_PASSIVE = 1;
export const BLOCK_ACTIVE = 2;
export const BLOCK_BREAKER = 4;

/** How an attempt ended, for passive health and the breaker. */
export const OUTCOME_NEUTRAL = 0;
export const OUTCOME_OK = 1;
export const OUTCOME_FAILED = 2;
export type Outcome = typeof OUTCOME_NEUTRAL | typeof OUTCOME_OK | typeof OUTCOME_FAILED;

/** What the config says of one server (per loaded config). */
export interface PeerOptions {
  /** nginx max_fails: failures within failTimeout that take the server out (0 = never). */
  maxFails: number;
  /** nginx fail_timeout, ms: the window that counts failures, and how long the server stays out. */
  failTimeout: number;
  breaker: BreakerOptions | null;
}

/** The live state of one server of an upstream group, kept across reloads. */
export class PeerState {
  readonly upstream: string;
  readonly address: string;
  /** BLOCK_* bits; 0 = the server takes traffic. */
  blocked = 0;
  inFlight = 0;
  /** Passive failures counted in the current failTimeout window. */
  fails = 0;
  lastFail = 0;
  activeHealthy = true;
  activeRise = 0;
  activeFall = 0;
  readonly breaker = new BreakerState();
  logger: Logger | null = null;

  constructor(upstream: string, address: string) {
    this.upstream = upstream;
    this.address = address;
  }
}

/** One server of a group as a loaded config sees it. */
export interface UpstreamPeer {
  /** "host:port" as written in the config. */
  address: string;
  weight: number;
  /** nginx backup: only used when every other server is unavailable. */
  backup: boolean;
  /** nginx down: never used. */
  down: boolean;
  options: PeerOptions;
  state: PeerState;
}

function publish(state: PeerState, reason: string): void {
  const healthy = state.blocked === 0;
  state.logger?.[healthy ? "info" : "warn"](
    { code: healthy ? undefined : "PTC_ERR_UPSTREAM_UNAVAILABLE", upstream: state.upstream, server: state.address, reason },
    healthy ? "upstream server is available again" : "upstream server marked unavailable",
  );
  if (upstreamHealth.hasSubscribers) upstreamHealth.publish({ upstream: state.upstream, server: state.address, healthy, reason });
}

/** Whether the server may take a request now; the cheap test first, the details only when something is wrong. */
export function isAvailable(peer: UpstreamPeer): boolean {
  return peer.state.blocked === 0 || checkBlocked(peer);
}

function checkBlocked(peer: UpstreamPeer): boolean {
  const state = peer.state;
  if ((state.blocked & BLOCK_ACTIVE) !== 0) return false;
  const now = Date.now();
  if ((state.blocked & BLOCK_PASSIVE) !== 0) {
    if (now - state.lastFail <= peer.options.failTimeout) return false;
    // nginx: after fail_timeout the server is tried again; its next failure takes it out at once.
    state.blocked &= ~BLOCK_PASSIVE;
    if (state.blocked === 0) publish(state, "failTimeout elapsed: trying it again");
  }
  if ((state.blocked & BLOCK_BREAKER) !== 0) {
    const { allows, changed } = breakerAllows(state.breaker, now);
    if (changed === "halfOpen") publish(state, "circuit breaker half-open: one probe request");
    return allows;
  }
  return true;
}

/** Whether the server is up, without side effects (for status pages). */
export function healthyNow(peer: UpstreamPeer, now = Date.now()): boolean {
  const state = peer.state;
  if (peer.down) return false;
  if ((state.blocked & BLOCK_ACTIVE) !== 0) return false;
  if ((state.blocked & BLOCK_PASSIVE) !== 0 && now - state.lastFail <= peer.options.failTimeout) return false;
  if ((state.blocked & BLOCK_BREAKER) !== 0 && state.breaker.phase === "open" && now < state.breaker.openUntil) return false;
  return true;
}

/** An attempt goes to this server. */
export function beginAttempt(peer: UpstreamPeer): void {
  const state = peer.state;
  state.inFlight++;
  if ((state.blocked & BLOCK_BREAKER) !== 0 && state.breaker.phase === "halfOpen") state.breaker.probeInFlight = true;
}

/** The attempt is over: release it and count its outcome. */
export function endAttempt(peer: UpstreamPeer, outcome: Outcome): void {
  const state = peer.state;
  state.inFlight--;
  const breaker = peer.options.breaker;
  if (outcome === OUTCOME_OK) {
    if (state.fails > 0) {
      const { maxFails, failTimeout } = peer.options;
      if (state.fails >= maxFails || Date.now() - state.lastFail > failTimeout) state.fails = 0;
    }
    if (breaker !== null) recordBreaker(peer, breaker, true);
  } else if (outcome === OUTCOME_FAILED) {
    passiveFailure(peer);
    if (breaker !== null) recordBreaker(peer, breaker, false);
  } else if (state.breaker.probeInFlight) {
    // The probe ended without telling anything (the client left): let another one through.
    state.breaker.probeInFlight = false;
  }
}

function passiveFailure(peer: UpstreamPeer): void {
  const { maxFails, failTimeout } = peer.options;
  if (maxFails === 0) return;
  const state = peer.state;
  const now = Date.now();
  if (state.fails < maxFails && now - state.lastFail > failTimeout) state.fails = 0;
  state.fails++;
  state.lastFail = now;
  if (state.fails >= maxFails && (state.blocked & BLOCK_PASSIVE) === 0) {
    state.blocked |= BLOCK_PASSIVE;
    publish(state, `${state.fails} failure${state.fails === 1 ? "" : "s"} within failTimeout (maxFails ${maxFails})`);
  }
}

function recordBreaker(peer: UpstreamPeer, options: BreakerOptions, ok: boolean): void {
  const state = peer.state;
  const changed: BreakerPhase | null = breakerRecord(state.breaker, options, ok, Date.now());
  if (changed === "open") {
    state.blocked |= BLOCK_BREAKER;
    publish(state, "circuit breaker open");
  } else if (changed === "closed") {
    state.blocked &= ~BLOCK_BREAKER;
    publish(state, "circuit breaker closed");
  }
}

export interface HealthCheckOptions {
  path: string;
  interval: number;
  timeout: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** Statuses that count as healthy; null = any 2xx or 3xx. */
  expectStatus: readonly number[] | null;
  /** Check over TLS (the group is used with https:// proxyPass). */
  https: boolean;
}

/** host and port of "host:port", "[v6]:port" or "host" (port 80/443). */
export function splitAddress(address: string, https: boolean): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address);
  const host = (match?.[1] ?? address).replace(/^\[(.*)\]$/, "$1");
  return { host, port: match?.[2] ? Number(match[2]) : https ? 443 : 80 };
}

/** The active checks of one group: every `interval`, GET `path` on each server, on a fresh connection. */
class ActiveChecker {
  readonly #peers: readonly UpstreamPeer[];
  readonly #options: HealthCheckOptions;
  #timer: NodeJS.Timeout | null = null;
  readonly #running = new Map<PeerState, () => void>();

  constructor(peers: readonly UpstreamPeer[], options: HealthCheckOptions) {
    this.#peers = peers;
    this.#options = options;
  }

  start(): void {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#options.interval);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const cancel of this.#running.values()) cancel();
    this.#running.clear();
  }

  #tick(): void {
    for (const peer of this.#peers) {
      if (peer.down || this.#running.has(peer.state)) continue;
      this.#check(peer);
    }
  }

  #check(peer: UpstreamPeer): void {
    const options = this.#options;
    const { host, port } = splitAddress(peer.address, options.https);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#running.delete(peer.state);
      if (this.#timer !== null) activeResult(peer.state, ok, options);
    };
    const req = (options.https ? httpsRequest : httpRequest)(
      {
        host,
        port,
        path: options.path,
        method: "GET",
        agent: false,
        headers: { host: peer.address, "user-agent": "portico-health-check", connection: "close" },
        ...(options.https ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        finish(options.expectStatus === null ? status >= 200 && status < 400 : options.expectStatus.includes(status));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error("health check timed out"));
      finish(false);
    }, options.timeout);
    req.on("error", () => finish(false));
    req.end();
    this.#running.set(peer.state, () => {
      done = true;
      clearTimeout(timer);
      req.destroy();
    });
  }
}

function activeResult(state: PeerState, ok: boolean, options: HealthCheckOptions): void {
  if (ok) {
    state.activeFall = 0;
    if (state.activeHealthy) return;
    state.activeRise++;
    if (state.activeRise < options.healthyThreshold) return;
    state.activeHealthy = true;
    state.activeRise = 0;
    // A server the check found healthy starts afresh: passive failures are forgotten too.
    state.fails = 0;
    state.blocked &= ~(BLOCK_ACTIVE | BLOCK_PASSIVE);
    publish(state, `health check passed ${options.healthyThreshold} time(s)`);
    return;
  }
  state.activeRise = 0;
  if (!state.activeHealthy) return;
  state.activeFall++;
  if (state.activeFall < options.unhealthyThreshold) return;
  state.activeHealthy = false;
  state.activeFall = 0;
  state.blocked |= BLOCK_ACTIVE;
  publish(state, `health check failed ${options.unhealthyThreshold} time(s)`);
}

/** One upstream group as a loaded config defines it. */
export interface UpstreamPlan {
  name: string;
  loadBalancing: string;
  peers: UpstreamPeer[];
  healthCheck: HealthCheckOptions | null;
}

export interface UpstreamServerStatus {
  address: string;
  weight: number;
  backup: boolean;
  down: boolean;
  healthy: boolean;
  fails: number;
  inFlight: number;
  /** The circuit breaker's phase, or null without one. */
  breaker: BreakerPhase | null;
  /** The active check's verdict, or null without one. */
  activeHealthy: boolean | null;
}

export interface UpstreamStatus {
  name: string;
  loadBalancing: string;
  servers: UpstreamServerStatus[];
}

/** Gateway-owned: server states and active checks, kept across reloads like the connection pools. */
export class UpstreamRegistry {
  readonly #states = new Map<string, PeerState>();
  readonly #checkers = new Map<string, { key: string; checker: ActiveChecker }>();
  readonly #logger: Logger | null;
  #closed = false;

  constructor(logger: Logger | null = null) {
    this.#logger = logger;
  }

  /** The state of `address` in group `upstream`: the same object for as long as both exist. */
  state(upstream: string, address: string): PeerState {
    const key = `${upstream}\u0000${address}`;
    let state = this.#states.get(key);
    if (!state) {
      state = new PeerState(upstream, address);
      state.logger = this.#logger;
      this.#states.set(key, state);
    }
    return state;
  }

  /**
   * A config went live: run the active checks of its groups (a check whose settings did not change
   * keeps running), stop the others, and forget the servers it no longer has.
   */
  activate(plans: ReadonlyMap<string, UpstreamPlan>): void {
    if (this.#closed) return;
    const keep = new Set<string>();
    for (const plan of plans.values()) for (const peer of plan.peers) keep.add(`${plan.name}\u0000${peer.address}`);
    for (const [key, state] of this.#states) {
      if (keep.has(key)) continue;
      this.#states.delete(key);
      state.logger = null;
    }
    for (const [name, running] of this.#checkers) {
      const plan = plans.get(name);
      if (plan?.healthCheck && checkerKey(plan) === running.key) continue;
      running.checker.stop();
      this.#checkers.delete(name);
    }
    for (const plan of plans.values()) {
      if (!plan.healthCheck || this.#checkers.has(plan.name)) continue;
      // A server that the check had taken out stays out until the new check says otherwise.
      const checker = new ActiveChecker(plan.peers, plan.healthCheck);
      this.#checkers.set(plan.name, { key: checkerKey(plan), checker });
      checker.start();
    }
    // Groups that lost their health check: nothing marks their servers down any more.
    for (const plan of plans.values()) {
      if (plan.healthCheck) continue;
      for (const peer of plan.peers) {
        if ((peer.state.blocked & BLOCK_ACTIVE) === 0) continue;
        peer.state.activeHealthy = true;
        peer.state.blocked &= ~BLOCK_ACTIVE;
        publish(peer.state, "health check removed from the config");
      }
    }
  }

  status(plans: ReadonlyMap<string, UpstreamPlan>): UpstreamStatus[] {
    const now = Date.now();
    return [...plans.values()].map((plan) => ({
      name: plan.name,
      loadBalancing: plan.loadBalancing,
      servers: plan.peers.map((peer) => ({
        address: peer.address,
        weight: peer.weight,
        backup: peer.backup,
        down: peer.down,
        healthy: healthyNow(peer, now),
        fails: peer.state.fails,
        inFlight: peer.state.inFlight,
        breaker: peer.options.breaker ? peer.state.breaker.phase : null,
        activeHealthy: plan.healthCheck ? peer.state.activeHealthy : null,
      })),
    }));
  }

  closeAll(): void {
    this.#closed = true;
    for (const { checker } of this.#checkers.values()) checker.stop();
    this.#checkers.clear();
  }
}

function checkerKey(plan: UpstreamPlan): string {
  return JSON.stringify([plan.healthCheck, plan.peers.map((peer) => [peer.address, peer.down])]);
}
