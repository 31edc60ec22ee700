// Portico dashboard: plain JS, polls the admin API. Everything shown is built with textContent
// (never innerHTML), so names from the config cannot inject markup.

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("portico-admin-token") || "";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, init) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...init, headers: { ...headers, ...init?.headers } });
  if (res.status === 401) {
    $("token-form").hidden = false;
    throw new Error("unauthorized");
  }
  return res.json();
}

function fmtMs(value) {
  if (value === null || value === undefined) return "–";
  return value < 10 ? `${value.toFixed(2)} ms` : value < 1000 ? `${value.toFixed(0)} ms` : `${(value / 1000).toFixed(2)} s`;
}

function fmtUptime(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `up ${h} h ${m} min` : `up ${m} min ${seconds % 60} s`;
}

function renderStats(stats) {
  $("rps").textContent = stats.rps.toFixed(1);
  $("total").textContent = stats.total.toLocaleString();
  $("uptime").textContent = fmtUptime(stats.uptimeSeconds);
  const series = stats.series;
  const max = Math.max(1, ...series);
  const points = series.map((v, i) => `${((i / (series.length - 1)) * 120).toFixed(1)},${(29 - (v / max) * 28).toFixed(1)}`).join(" ");
  const spark = $("spark");
  spark.replaceChildren();
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  spark.append(line);

  const mix = stats.statusMix;
  const sum = Object.values(mix).reduce((a, b) => a + b, 0);
  const bar = $("mix-bar");
  bar.replaceChildren();
  const list = $("mix");
  list.replaceChildren();
  for (const [name, cls] of [
    ["2xx", "s2"],
    ["3xx", "s3"],
    ["4xx", "s4"],
    ["5xx", "s5"],
  ]) {
    const count = mix[name] || 0;
    if (sum > 0 && count > 0) {
      // CSSOM, not a style attribute: the page's CSP allows no inline styles.
      const part = el("span", { class: cls });
      part.style.width = `${(count / sum) * 100}%`;
      bar.append(part);
    }
    list.append(el("div", {}, el("dt", {}, name), el("dd", {}, count.toLocaleString())));
  }
  $("p50").textContent = fmtMs(stats.latency.p50);
  $("p90").textContent = fmtMs(stats.latency.p90);
  $("p99").textContent = fmtMs(stats.latency.p99);
}

function renderRoutes(data) {
  const byHost = new Map();
  for (const location of data.locations) {
    if (!byHost.has(location.virtualHost)) byHost.set(location.virtualHost, []);
    byHost.get(location.virtualHost).push(location);
  }
  const wrap = $("routes");
  wrap.replaceChildren();
  for (const [host, locations] of byHost) {
    const rows = locations.map((l) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, l.key)),
        el("td", {}, l.handler),
        el("td", {}, el("code", {}, l.proxyPass || l.return || "")),
        el(
          "td",
          {},
          ...(l.plugins.length + l.hooks.length === 0
            ? ["—"]
            : [...l.plugins.map((p) => el("span", { class: "tag" }, p)), ...l.hooks.map((h) => el("span", { class: "tag hook" }, h))]),
        ),
      ),
    );
    wrap.append(
      el(
        "table",
        {},
        el("caption", {}, host),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col" }, "Location"),
            el("th", { scope: "col" }, "Handler"),
            el("th", { scope: "col" }, "Target"),
            el("th", { scope: "col" }, "Plugins and hooks"),
          ),
        ),
        el("tbody", {}, ...rows),
      ),
    );
  }
}

function renderUpstreams(data) {
  const wrap = $("upstreams");
  const groups = data.upstreams || [];
  if (groups.length === 0) {
    wrap.replaceChildren(el("p", { class: "muted" }, "No upstreams."));
    return;
  }
  const rows = [];
  for (const group of groups) {
    for (const server of group.servers || []) {
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, group.name),
          el("td", {}, el("code", {}, server.address)),
          el("td", { class: server.healthy ? "healthy" : "unhealthy" }, server.healthy ? "healthy" : `down${server.reason ? `: ${server.reason}` : ""}`),
        ),
      );
    }
  }
  wrap.replaceChildren(
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Upstream"), el("th", { scope: "col" }, "Server"), el("th", { scope: "col" }, "Health"))),
      el("tbody", {}, ...rows),
    ),
  );
}

function renderErrors(data) {
  const list = $("errors");
  list.replaceChildren();
  if (data.errors.length === 0) {
    list.append(el("li", { class: "muted" }, "None recently."));
    return;
  }
  for (const error of data.errors.slice(0, 20)) {
    list.append(
      el(
        "li",
        { class: `level-${error.level}` },
        el("time", { datetime: error.time }, new Date(error.time).toLocaleTimeString()),
        " ",
        el("strong", {}, error.level),
        " ",
        error.code ? el("code", {}, error.code) : null,
        " ",
        error.msg,
        error.requestId ? ` (request ${error.requestId})` : "",
      ),
    );
  }
}

async function explain(event) {
  event.preventDefault();
  const params = new URLSearchParams({ method: $("explain-method").value, url: $("explain-url").value });
  if ($("explain-host").value.trim()) params.set("host", $("explain-host").value.trim());
  const out = $("explain-result");
  try {
    const result = await api(`/api/routes/explain?${params}`);
    const box = el("div", { class: "result" });
    box.append(
      el("p", {}, el("strong", {}, "Virtual host: "), result.virtualHost || "—", el("br"), el("span", { class: "muted" }, result.virtualHostReason || "")),
    );
    if (result.location) {
      box.append(el("p", {}, el("strong", {}, "Location: "), el("code", {}, result.location.key), ` (${result.location.handler})`));
      if (result.location.plugins.length) box.append(el("p", {}, el("strong", {}, "Plugins: "), result.location.plugins.join(", ")));
      if (result.upstreamUrl) box.append(el("p", {}, el("strong", {}, "Goes upstream as: "), el("code", {}, result.upstreamUrl)));
    } else if (result.redirectTo) {
      box.append(el("p", {}, el("strong", {}, "Redirect (301) to: "), el("code", {}, result.redirectTo)));
    } else {
      box.append(el("p", {}, el("strong", {}, "No location: "), `status ${result.status}`));
    }
    box.append(el("p", {}, el("strong", {}, "Why: "), result.reason));
    if (result.steps?.length) box.append(el("ol", {}, ...result.steps.map((s) => el("li", {}, s))));
    out.replaceChildren(box);
  } catch (error) {
    out.replaceChildren(el("p", { class: "unhealthy" }, `Could not ask the gateway: ${error.message}`));
  }
}

async function pollStats() {
  try {
    renderStats(await api("/api/stats"));
  } catch {
    // shown by the readiness pill
  }
}

async function pollSlow() {
  try {
    const ready = await fetch("/readyz");
    const pill = $("ready");
    pill.textContent = ready.ok ? "ready" : "not ready";
    pill.className = `pill ${ready.ok ? "ok" : "bad"}`;
    renderUpstreams(await api("/api/upstreams"));
    renderErrors(await api("/api/errors"));
  } catch {
    $("ready").textContent = "unreachable";
    $("ready").className = "pill bad";
  }
}

async function start() {
  try {
    renderRoutes(await api("/api/routes"));
  } catch {
    return;
  }
  pollStats();
  pollSlow();
  setInterval(pollStats, 1000);
  setInterval(pollSlow, 5000);
  setInterval(async () => {
    try {
      renderRoutes(await api("/api/routes"));
    } catch {}
  }, 30000);
}

$("explain").addEventListener("submit", explain);
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("portico-admin-token", token);
  $("token-form").hidden = true;
  start();
});
start();
