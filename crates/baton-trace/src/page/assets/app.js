// The baton-trace page: a live trace list with filters, a trace's waterfall with a detail
// panel, and the service map as SVG. No framework, no build step; every piece of trace data
// reaches the page through textContent or setAttribute, never as markup.
"use strict";

const COLOURS = { ok: "#2e9d4f", error: "#e0a800", fault: "#d13212", throttle: "#8a4fd0" };
const STATUSES = ["ok", "error", "fault", "throttle"];
const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

const state = { service: "", status: "", node: "", q: "", trace: "", nodeIndex: 0 };
let lastList = "";
let lastMap = "";
let shownTrace = null; // { id, spans, text }
let mapNames = {};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "running";
  if (ms >= 10000) return (ms / 1000).toFixed(1) + " s";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  return ms.toFixed(1) + " ms";
}

function fmtTime(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  if (isNaN(d.getTime())) return String(epochSeconds);
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// ---- state in the address (so a trace link, back and reload work) -------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.trace = params.get("trace") || "";
  state.service = params.get("service") || "";
  state.status = params.get("status") || "";
  state.node = params.get("node") || "";
  state.q = params.get("q") || "";
}

function writeHash() {
  const params = new URLSearchParams();
  for (const key of ["trace", "service", "status", "node", "q"]) {
    if (state[key]) params.set(key, state[key]);
  }
  const hash = "#" + params.toString();
  if (location.hash !== hash) history.replaceState(null, "", hash === "#" ? location.pathname : hash);
}

function syncForm() {
  $("f-service").value = state.service;
  if ($("f-service").value !== state.service) {
    $("f-service").append(el("option", { value: state.service }, state.service));
    $("f-service").value = state.service;
  }
  $("f-status").value = state.status;
  if (document.activeElement !== $("f-q")) $("f-q").value = state.q;
  $("f-node").hidden = !state.node;
  $("f-node-name").textContent = state.node ? "map: " + (mapNames[state.node] || state.node) : "";
}

// ---- the trace list ---------------------------------------------------------------------

async function refreshList() {
  const params = new URLSearchParams();
  for (const key of ["service", "status", "node", "q"]) {
    if (state[key]) params.set(key, state[key]);
  }
  let response;
  try {
    response = await fetch("/api/traces?" + params.toString(), { cache: "no-store" });
  } catch (e) {
    $("live").classList.add("stale");
    return;
  }
  $("live").classList.remove("stale");
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { return; }
  if (!response.ok) {
    showFilterError(body.error || "the filter was refused");
    return;
  }
  showFilterError("");
  if (text === lastList) return;
  lastList = text;
  renderList(body);
}

function showFilterError(message) {
  $("f-error").hidden = !message;
  $("f-error").textContent = message;
  $("f-q").classList.toggle("bad", !!message);
}

function renderList(body) {
  const select = $("f-service");
  const wanted = ["", ...body.services];
  const have = Array.from(select.options).map((o) => o.value);
  if (wanted.join("\n") !== have.join("\n") && !(state.service && !body.services.includes(state.service))) {
    select.replaceChildren(el("option", { value: "" }, "any"), ...body.services.map((s) => el("option", { value: s }, s)));
    select.value = state.service;
  }
  const stats = body.stats;
  $("counts").textContent = `${body.held} traces held · ${stats.datagrams} datagrams · ${stats.malformed} malformed · ${stats.evicted} forgotten`;
  $("matched").textContent = body.matched > body.traces.length
    ? `newest ${body.traces.length} of ${body.matched} matching`
    : `${body.matched} matching`;
  const rows = body.traces.map((t) => {
    const row = el("tr", { class: "trace-row" + (t.id === state.trace ? " selected" : ""), "data-trace": t.id, "data-status": t.status, "data-spans": t.spans, title: t.id },
      el("td", { class: "mono" }, fmtTime(t.start)),
      el("td", {}, t.root || "?"),
      el("td", { class: "num" }, t.in_progress ? "running" : fmtMs(t.duration_ms)),
      el("td", {}, el("span", { class: "pill " + t.status }, t.status)),
      el("td", { class: "num" }, t.spans));
    row.addEventListener("click", () => selectTrace(t.id));
    return row;
  });
  if (rows.length === 0) {
    rows.push(el("tr", { class: "none" }, el("td", { colspan: 5, class: "empty" }, body.held ? "No trace matches." : "No traces yet.")));
  }
  $("traces").tBodies[0].replaceChildren(...rows);
  // A trace being watched grows: fetch it again when its span count changes.
  const current = body.traces.find((t) => t.id === state.trace);
  if (current && shownTrace && shownTrace.id === current.id && shownTrace.spans !== current.spans) {
    openTrace(current.id, true);
  }
}

function selectTrace(id) {
  state.trace = id;
  state.nodeIndex = 0;
  writeHash();
  for (const row of $("traces").tBodies[0].rows) row.classList.toggle("selected", row.dataset.trace === id);
  openTrace(id, false);
}

// ---- one trace: waterfall and details ----------------------------------------------------

async function openTrace(id, keepDetail) {
  let response;
  try {
    response = await fetch("/api/traces/" + encodeURIComponent(id), { cache: "no-store" });
  } catch (e) {
    return;
  }
  const text = await response.text();
  if (id !== state.trace) return; // another trace was chosen meanwhile
  let body;
  try { body = JSON.parse(text); } catch (e) { body = { error: text }; }
  $("trace-empty").hidden = true;
  if (!response.ok) {
    shownTrace = null;
    $("trace-title").textContent = "Trace " + id;
    $("trace-static").hidden = true;
    $("trace-summary").textContent = body.error || "not found";
    $("waterfall").replaceChildren();
    $("detail").hidden = true;
    return;
  }
  if (shownTrace && shownTrace.id === id && shownTrace.text === text) return;
  shownTrace = { id, spans: body.spans, text };
  renderTrace(body, keepDetail);
}

function renderTrace(trace, keepDetail) {
  $("trace-title").textContent = "Trace " + trace.id;
  const link = $("trace-static");
  link.hidden = false;
  link.href = "/trace/" + encodeURIComponent(trace.id) + ".html";
  link.target = "_blank";
  $("trace-summary").replaceChildren(
    `${trace.spans} spans · ${trace.services.length} services (${trace.services.join(", ")}) · ${fmtMs(trace.duration_ms)} · started ${fmtTime(trace.start)} · `,
    el("span", { class: "pill " + trace.status }, trace.status),
    trace.orphans ? ` · ${trace.orphans} orphan(s): parent not received` : "");
  const total = trace.duration_ms > 0 ? trace.duration_ms : 1;
  const rows = trace.nodes.map((node, i) => {
    const classes = ["wf-row", node.kind];
    for (const flag of ["error", "fault", "throttle", "orphan"]) if (node[flag]) classes.push(flag);
    if (node.in_progress) classes.push("running");
    const left = Math.min(100, Math.max(0, (node.offset_ms / total) * 100));
    const width = node.in_progress ? 100 - left : Math.min(100 - left, Math.max(0, ((node.duration_ms || 0) / total) * 100));
    const label = el("div", { class: "wf-label", style: undefined }, node.label);
    label.style.paddingLeft = (0.5 + 1.1 * Math.min(node.depth, 40)) + "em";
    for (const flag of ["fault", "error", "throttle"]) {
      if (node[flag]) label.append(el("span", { class: "flag " + flag }, flag.toUpperCase()));
    }
    const bar = el("div", { class: "wf-bar" });
    bar.style.left = left.toFixed(3) + "%";
    bar.style.width = width.toFixed(3) + "%";
    const row = el("div", { class: classes.join(" "), "data-index": i, "data-node": node.id, title: node.name },
      label, el("div", { class: "wf-track" }, bar), el("div", { class: "wf-dur" }, node.in_progress ? "running" : fmtMs(node.duration_ms)));
    row.addEventListener("click", () => showDetail(trace, i));
    return row;
  });
  $("waterfall").replaceChildren(...rows);
  const index = keepDetail && state.nodeIndex < trace.nodes.length ? state.nodeIndex : 0;
  if (trace.nodes.length) showDetail(trace, index);
}

function fieldRows(entries) {
  return el("table", {}, ...entries.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v)))));
}

function showDetail(trace, index) {
  state.nodeIndex = index;
  const node = trace.nodes[index];
  for (const row of $("waterfall").children) row.classList.toggle("selected", Number(row.dataset.index) === index);
  const parts = [el("h3", {}, node.label)];
  const flags = ["fault", "error", "throttle"].filter((f) => node[f]).join(", ");
  parts.push(fieldRows([
    ["name", node.name],
    ["kind", node.kind + (node.orphan ? " (orphan: parent not received)" : "")],
    ["service", node.service],
    ["id", node.id],
    ["parent", node.parent_id],
    ["start", new Date(node.start * 1000).toISOString()],
    ["duration", node.in_progress ? "running" : fmtMs(node.duration_ms)],
    ["status", node.status + (flags && flags !== node.status ? ` (${flags})` : "")],
    ["namespace", node.namespace],
    ["origin", node.origin],
    ["http", [node.http.method, node.http.url, node.http.status].filter((x) => x !== null && x !== undefined).join(" ")],
  ]));
  const section = (title, content) => { parts.push(el("h4", {}, title), content); };
  const annotations = Object.entries(node.annotations || {});
  if (annotations.length) section("Annotations", fieldRows(annotations));
  const aws = Object.entries(node.aws || {});
  if (aws.length) section("AWS", fieldRows(aws));
  if (node.exceptions.length) section("Exceptions", el("ul", {}, ...node.exceptions.map((e) => el("li", { class: "exception mono" }, e))));
  if (node.links.length) {
    section("Links", el("ul", { class: "links" }, ...node.links.map((l) => {
      const a = el("a", { href: "#trace=" + encodeURIComponent(l.trace_id), class: "trace-link", "data-trace": l.trace_id }, l.trace_id);
      a.addEventListener("click", (event) => { event.preventDefault(); selectTrace(l.trace_id); });
      const attrs = Object.keys(l.attributes || {}).length ? " " + JSON.stringify(l.attributes) : "";
      return el("li", { class: "mono" }, a, ` / ${l.id}${attrs}`, l.held ? "" : " (not held)");
    })));
  }
  const metadata = Object.keys(node.metadata || {});
  if (metadata.length) section("Metadata", el("pre", {}, JSON.stringify(node.metadata, null, 2)));
  $("detail").replaceChildren(...parts);
  $("detail").hidden = false;
}

// ---- the service map -------------------------------------------------------------------

async function refreshMap() {
  let response;
  try {
    response = await fetch("/api/map", { cache: "no-store" });
  } catch (e) {
    return;
  }
  const text = await response.text();
  if (!response.ok || text === lastMap) return;
  lastMap = text;
  renderMap(JSON.parse(text));
}

function ring(health, radius) {
  const circumference = 2 * Math.PI * radius;
  const total = STATUSES.reduce((sum, s) => sum + health[s], 0);
  const arcs = [];
  let offset = 0;
  for (const status of STATUSES) {
    const count = health[status];
    if (!count || !total) continue;
    const share = count / total;
    const length = share * circumference;
    arcs.push(svg("circle", {
      class: "ring ring-" + status, r: radius, cx: 0, cy: 0, stroke: COLOURS[status],
      "data-status": status, "data-share": share.toFixed(4), "data-count": count,
      "stroke-dasharray": `${length.toFixed(2)} ${(circumference - length).toFixed(2)}`,
      "stroke-dashoffset": (-offset).toFixed(2), transform: "rotate(-90)",
    }));
    offset += length;
  }
  return arcs;
}

function renderMap(graph) {
  const map = $("map");
  mapNames = {};
  $("map-empty").hidden = graph.nodes.length > 0;
  map.hidden = graph.nodes.length === 0;
  const COL = 200, ROW = 120, R = 30, RING = 36, MARGIN_X = 90, MARGIN_Y = 64;
  const columns = Math.max(1, ...graph.nodes.map((n) => n.layer + 1));
  const perColumn = new Array(columns).fill(0);
  for (const n of graph.nodes) perColumn[n.layer] = Math.max(perColumn[n.layer], n.row + 1);
  const rows = Math.max(1, ...perColumn);
  const width = MARGIN_X * 2 + (columns - 1) * COL;
  const height = MARGIN_Y * 2 + (rows - 1) * ROW;
  const at = {};
  for (const n of graph.nodes) {
    mapNames[n.id] = n.name + (n.kind === "service" ? "" : ` (${n.kind})`);
    const offset = (rows - perColumn[n.layer]) / 2;
    at[n.id] = { x: MARGIN_X + n.layer * COL, y: MARGIN_Y + (n.row + offset) * ROW };
  }
  // Drawn to the panel's width (never larger than life), the text scaling with it.
  map.setAttribute("viewBox", `0 0 ${width} ${height}`);
  map.style.maxWidth = width + "px";
  const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa3b5" })));
  const edges = graph.edges.map((e) => {
    const a = at[e.from], b = at[e.to];
    if (!a || !b) return null;
    let d, lx, ly;
    if (b.x > a.x) {
      const x1 = a.x + RING + 4, x2 = b.x - RING - 6, mid = (x1 + x2) / 2;
      d = `M${x1},${a.y} C${mid},${a.y} ${mid},${b.y} ${x2},${b.y}`;
      lx = mid; ly = (a.y + b.y) / 2 - 6;
    } else {
      // Back to an earlier column (a loop): an arc above both nodes.
      const top = Math.min(a.y, b.y) - RING - 40;
      d = `M${a.x},${a.y - RING - 4} C${a.x},${top} ${b.x},${top} ${b.x},${b.y - RING - 6}`;
      lx = (a.x + b.x) / 2; ly = top + 6;
    }
    const failing = e.fault + e.error + e.throttle > 0;
    const label = `${e.calls} ${e.calls === 1 ? "call" : "calls"} · ${e.average_ms === null ? "running" : fmtMs(e.average_ms)}`;
    return svg("g", { class: "edge" + (failing ? " failing" : ""), "data-from": e.from, "data-to": e.to, "data-calls": e.calls },
      svg("path", { d, "marker-end": "url(#arrow)" }),
      svg("text", { x: lx, y: ly, "text-anchor": "middle" }, label));
  });
  const nodes = graph.nodes.map((n) => {
    const p = at[n.id];
    const classes = ["node", n.kind];
    if (state.node === n.id) classes.push("selected");
    if (state.node && state.node !== n.id) classes.push("dim");
    const share = (s) => (n.requests ? ((100 * n[s]) / n.requests).toFixed(0) + "%" : "0%");
    const g = svg("g", { class: classes.join(" "), "data-id": n.id, "data-name": n.name, "data-kind": n.kind, "data-requests": n.requests, transform: `translate(${p.x},${p.y})`, tabindex: 0, role: "button" },
      svg("title", {}, `${n.name} (${n.kind}): ${n.requests} requests in ${n.traces} traces; ok ${share("ok")}, error ${share("error")}, fault ${share("fault")}, throttle ${share("throttle")}; average ${n.average_ms === null ? "n/a" : fmtMs(n.average_ms)}`),
      svg("circle", { class: "disc", r: R, cx: 0, cy: 0 }),
      ...ring(n, RING),
      svg("text", { class: "inner", x: 0, y: -2 }, n.average_ms === null ? "…" : fmtMs(n.average_ms)),
      svg("text", { class: "inner", x: 0, y: 12 }, `${n.requests} req`),
      svg("text", { class: "name", x: 0, y: RING + 17 }, n.name.length > 28 ? n.name.slice(0, 27) + "…" : n.name),
      n.kind === "service" ? null : svg("text", { class: "kind", x: 0, y: -RING - 8 }, n.kind.replace("-", " ")));
    const toggle = () => { state.node = state.node === n.id ? "" : n.id; applyFilters(); };
    g.addEventListener("click", toggle);
    g.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); } });
    return g;
  });
  map.replaceChildren(defs, ...edges.filter(Boolean), ...nodes);
  syncForm();
}

function markSelectedNode() {
  for (const g of $("map").querySelectorAll("g.node")) {
    g.classList.toggle("selected", g.dataset.id === state.node);
    g.classList.toggle("dim", !!state.node && g.dataset.id !== state.node);
  }
}

// ---- wiring ------------------------------------------------------------------------------

function applyFilters() {
  writeHash();
  syncForm();
  markSelectedNode();
  lastList = "";
  refreshList();
}

function start() {
  readHash();
  syncForm();
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("f-q").value.trim();
    applyFilters();
  });
  $("f-service").addEventListener("change", () => { state.service = $("f-service").value; applyFilters(); });
  $("f-status").addEventListener("change", () => { state.status = $("f-status").value; applyFilters(); });
  $("f-node-clear").addEventListener("click", () => { state.node = ""; applyFilters(); });
  window.addEventListener("hashchange", () => {
    const before = state.trace;
    readHash();
    syncForm();
    markSelectedNode();
    lastList = "";
    refreshList();
    if (state.trace && state.trace !== before) openTrace(state.trace, false);
  });
  refreshMap();
  refreshList();
  if (state.trace) openTrace(state.trace, false);
  setInterval(() => {
    if (document.hidden) return;
    refreshList();
    refreshMap();
  }, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
