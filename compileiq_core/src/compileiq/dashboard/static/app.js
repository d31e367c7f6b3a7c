// compileiq dashboard: runs list, one run live, runs side by side. Plots are inline SVG.
// Every value that comes from a run is put in the page as text (textContent / createTextNode /
// setAttribute), never parsed as HTML.
"use strict";

const COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"];
const OK = "#4c72b0", FAIL = "#c44e52", BEST = "#2ca02c", FRONT = "#dd8452";
const SVGNS = "http://www.w3.org/2000/svg";
const POLL_MS = 1500;
const BUSY_SHARE = 0.1;  // a page redraws at most this share of the time: big live runs redraw less often

function nextPoll(workMs) { return Math.max(POLL_MS, workMs / BUSY_SHARE); }

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only)

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "onclick" || key === "onchange") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3 ? value.toExponential(4) : String(+value.toPrecision(6));
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

function fmtTime(epoch) {
  if (!epoch) return "-";
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(s) {
  if (!Number.isFinite(s)) return "-";
  if (s < 10) return `${+s.toPrecision(2)} s`;
  if (s < 120) return `${+s.toFixed(1)} s`;
  if (s < 7200) return `${+(s / 60).toFixed(1)} min`;
  return `${+(s / 3600).toFixed(2)} h`;
}

function badge(status) {
  return el("span", {class: `badge ${String(status).replace(/[^a-z]/g, "")}`, "data-field": "status"}, status);
}

async function api(path) {
  const response = await fetch(path, {cache: "no-store"});
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

function runPath(runId) { return `/api/runs/${encodeURIComponent(runId)}`; }

function setUpdated(error) {
  const node = document.getElementById("updated");
  node.textContent = error ? `update failed: ${error}` : `updated ${new Date().toLocaleTimeString()}`;
  node.className = error ? "error" : "";
}

// ---------------------------------------------------------------------------------------------
// Plots

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return {lo, hi, ticks};
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? [lo, hi] : [0, 1];
}

// series: {type: "dots"|"step"|"line"|"hline"|"ticks", x: [], y: [], color, label, dash}
function plot(spec) {
  const W = spec.width || 640, H = spec.height || 280, M = {l: 64, r: 14, t: 26, b: 40};
  const root = svg("svg", {class: "plot", viewBox: `0 0 ${W} ${H}`, "data-plot": spec.name,
                           role: "img", "aria-label": spec.title});
  let [x0, x1] = [Infinity, -Infinity], [y0, y1] = [Infinity, -Infinity];
  for (const s of spec.series) {
    if (s.type !== "hline") { const [lo, hi] = extent(s.x); if (lo <= hi && s.x.length) { x0 = Math.min(x0, lo); x1 = Math.max(x1, hi); } }
    if (s.type !== "ticks") { const [lo, hi] = extent(s.y); if (lo <= hi && s.y.some(Number.isFinite)) { y0 = Math.min(y0, lo); y1 = Math.max(y1, hi); } }
  }
  if (!(x0 <= x1)) [x0, x1] = [0, 1];
  if (!(y0 <= y1)) [y0, y1] = [0, 1];
  const xt = spec.xTicks ? {lo: x0 - 0.5, hi: x1 + 0.5, ticks: spec.xTicks} : niceTicks(x0, x1, 6), yt = niceTicks(y0 - (y1 - y0) * 0.03, y1 + (y1 - y0) * 0.03, 5);
  const px = (v) => M.l + (v - xt.lo) / (xt.hi - xt.lo || 1) * (W - M.l - M.r);
  const py = (v) => H - M.b - (v - yt.lo) / (yt.hi - yt.lo || 1) * (H - M.t - M.b);
  const grid = svg("g", {class: "grid"}), axis = svg("g", {class: "axis"});
  for (const t of yt.ticks) {
    if (t < yt.lo || t > yt.hi) continue;
    grid.appendChild(svg("line", {x1: M.l, x2: W - M.r, y1: py(t), y2: py(t)}));
    axis.appendChild(svg("text", {x: M.l - 6, y: py(t) + 4, "text-anchor": "end"}, fmt(t)));
  }
  for (const t of xt.ticks) {
    if (t < xt.lo || t > xt.hi) continue;
    grid.appendChild(svg("line", {x1: px(t), x2: px(t), y1: M.t, y2: H - M.b}));
    axis.appendChild(svg("text", {x: px(t), y: H - M.b + 15, "text-anchor": "middle"},
                         spec.xFormat ? spec.xFormat(t) : fmt(t)));
  }
  axis.appendChild(svg("path", {d: `M${M.l},${M.t}V${H - M.b}H${W - M.r}`, fill: "none"}));
  axis.appendChild(svg("text", {x: (M.l + W - M.r) / 2, y: H - 6, "text-anchor": "middle"}, spec.xLabel));
  axis.appendChild(svg("text", {x: 12, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
                                transform: `rotate(-90 12 ${(M.t + H - M.b) / 2})`}, spec.yLabel));
  root.append(grid, axis);
  root.appendChild(svg("text", {class: "title", x: M.l, y: 16}, spec.title));
  let legendX = W - M.r;
  const legend = [];
  for (const s of spec.series) {
    let d = "";
    if (s.type === "dots") {
      // One path for every point; points that fall on the same pixel are drawn once.
      const seen = new Uint8Array((W + 1) * (H + 1)), parts = [];
      for (let i = 0; i < s.x.length; i++) {
        const x = s.x[i], y = s.y[i];
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        const X = Math.round(px(x)), Y = Math.round(py(y));
        if (X < 0 || Y < 0 || X > W || Y > H) continue;
        const key = X * (H + 1) + Y;
        if (seen[key]) continue;
        seen[key] = 1;
        parts.push(`M${X},${Y}h0`);
      }
      d = parts.join("");
      root.appendChild(svg("path", {d: d || "M0,0", stroke: s.color, "stroke-width": s.size || 4,
                                    "stroke-linecap": "round", "stroke-opacity": s.opacity || 0.5, fill: "none",
                                    "data-series": s.label}));
    } else if (s.type === "ticks") {
      const seen = new Set();
      for (const x of s.x) {
        const X = Math.round(px(x));
        if (seen.has(X)) continue;
        seen.add(X);
        d += `M${X},${H - M.b}v-7`;
      }
      root.appendChild(svg("path", {d: d || "M0,0", stroke: s.color, "stroke-width": 1, fill: "none",
                                    "data-series": s.label}));
    } else if (s.type === "hline") {
      if (!Number.isFinite(s.y[0])) continue;
      root.appendChild(svg("path", {d: `M${M.l},${py(s.y[0])}H${W - M.r}`, stroke: s.color, "stroke-width": 1.5,
                                    "stroke-dasharray": "6 4", fill: "none", "data-series": s.label}));
    } else {
      let started = false, lastY = null;
      for (let i = 0; i < s.x.length; i++) {
        const y = s.y[i];
        if (!Number.isFinite(y) || !Number.isFinite(s.x[i])) continue;
        if (s.type === "step" && started && y === lastY) continue;  // a step line only turns where y changes
        const X = px(s.x[i]).toFixed(1), Y = py(y).toFixed(1);
        if (!started) { d += `M${X},${Y}`; started = true; }
        else if (s.type === "step") d += `H${X}V${Y}`;
        else d += `L${X},${Y}`;
        lastY = y;
      }
      if (s.type === "step" && started && s.extendTo !== undefined) d += `H${px(s.extendTo).toFixed(1)}`;
      root.appendChild(svg("path", {d: d || "M0,0", stroke: s.color, "stroke-width": s.width || 2, fill: "none",
                                    "stroke-dasharray": s.dash, "data-series": s.label}));
      if (s.markers) {
        for (let i = 0; i < s.x.length; i++) {
          if (Number.isFinite(s.x[i]) && Number.isFinite(s.y[i])) {
            root.appendChild(svg("circle", {cx: px(s.x[i]), cy: py(s.y[i]), r: 3.5, fill: s.color}));
          }
        }
      }
    }
    if (s.label) legend.push(s);
  }
  for (const s of legend.reverse()) {
    const label = svg("text", {x: legendX, y: 16, "text-anchor": "end"}, s.label);
    root.appendChild(label);
    const width = 7 + String(s.label).length * 6.2;
    root.appendChild(svg("rect", {x: legendX - width - 4, y: 8, width: 10, height: 10, fill: s.color}));
    legendX -= width + 22;
  }
  if (spec.empty) {
    root.appendChild(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", fill: FAIL}, spec.empty));
  }
  return root;
}

function barChart(spec) {
  // Horizontal bars: spec.items = [{label, value, note}], values in [0, max].
  const W = spec.width || 900, row = 20, M = {l: 220, r: 70, t: 26, b: 10};
  const H = M.t + M.b + row * Math.max(1, spec.items.length);
  const root = svg("svg", {class: "plot", viewBox: `0 0 ${W} ${H}`, "data-plot": spec.name, role: "img",
                           "aria-label": spec.title});
  root.appendChild(svg("text", {class: "title", x: 4, y: 16}, spec.title));
  const max = Math.max(1e-12, ...spec.items.map((i) => i.value));
  spec.items.forEach((item, k) => {
    const y = M.t + k * row, w = (W - M.l - M.r) * item.value / max;
    const label = item.label.length > 30 ? item.label.slice(0, 29) + "…" : item.label;
    const text = svg("text", {x: M.l - 6, y: y + 14, "text-anchor": "end", class: "bar-label"}, label);
    text.appendChild(svg("title", {}, item.label));
    root.append(text, svg("rect", {x: M.l, y: y + 3, width: Math.max(1, w), height: row - 6,
                                   fill: item.color || OK}));
    root.appendChild(svg("text", {x: M.l + w + 4, y: y + 14}, item.note !== undefined ? item.note : fmt(item.value)));
  });
  return root;
}

// ---------------------------------------------------------------------------------------------
// A run's rows, fetched incrementally

class RunData {
  constructor(runId) {
    this.runId = runId;
    this.rows = [];
    this.last = 0;
    this.meta = null;
    this.version = 0;
  }

  async poll() {
    const meta = await api(`${runPath(this.runId)}/meta`);
    const config = meta.config || {};
    this.meta = meta;
    this.maximize = config.problem_type === "max";
    this.normalized = !!config.normalize;
    this.numObjectives = Number(config.num_objectives || 1);
    let more = true, added = 0;
    while (more) {
      const t = performance.now();
      const page = await api(`${runPath(this.runId)}/scores?after=${this.last}`);
      window.__fetchMs = performance.now() - t;
      const rows = page.rows.map((r) => this.row(r));
      if (rows.some((r, i) => i && r.seq < rows[i - 1].seq)) rows.sort((a, b) => a.seq - b.seq);
      for (const r of rows) this.rows.push(r);
      added += page.rows.length;
      this.last = page.last;
      more = page.more;
    }
    if (added) this.version++;
    return added;
  }

  row(r) {
    const [seq, generation, base, failed, score, norm, params, t, failure, error, paramId] = r;
    const chosen = this.normalized && norm !== null ? norm : score;
    const values = Array.isArray(chosen) ? chosen : [chosen];
    const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);
    return {seq, generation, baseline: !!base, failed: !!failed, score, norm, params, t, failure, error, paramId,
            v: failed ? NaN : num(values[0]), v2: failed ? NaN : num(values[1])};
  }

  better(a, b) { return this.maximize ? a > b : a < b; }

  evaluations() { return this.rows.filter((r) => !r.baseline); }
}

function bestSoFar(rows, data) {
  const out = [];
  let best = NaN;
  for (const r of rows) {
    if (Number.isFinite(r.v) && (!Number.isFinite(best) || data.better(r.v, best))) best = r.v;
    out.push(best);
  }
  return out;
}

function flatten(value, prefix, out) {
  if (value && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix || "config"] = value;
  }
  return out;
}

function topK(rows, k, data) {
  // The k best rows, best first, in one pass (no sort of every row).
  const top = [];
  for (const r of rows) {
    if (top.length === k && !data.better(r.v, top[k - 1].v)) continue;
    let i = top.length < k ? top.length : k - 1;
    top[i] = r;
    while (i > 0 && data.better(top[i].v, top[i - 1].v)) { [top[i], top[i - 1]] = [top[i - 1], top[i]]; i--; }
  }
  return top;
}

function flatParams(r) {
  if (!r.flat) {
    const p = r.params;
    const plain = p && typeof p === "object" && !Array.isArray(p) &&
      Object.values(p).every((v) => v === null || typeof v !== "object");
    r.flat = plain ? p : flatten(p, "", {});
  }
  return r.flat;
}

function paramEffects(rows) {
  // Per parameter: mean objective per value (numbers with more than 12 values: 8 equal-width
  // bins), and the share of the objective's variance that this grouping explains (eta squared)
  // as its importance. Two passes over the rows, no sorting.
  const ok = rows.filter((r) => Number.isFinite(r.v));
  const n = ok.length;
  if (n < 3) return [];
  const ys = new Float64Array(n), columns = new Map();
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const r = ok[i], flat = flatParams(r);
    ys[i] = r.v;
    mean += r.v;
    for (const k in flat) {
      let col = columns.get(k);
      if (!col) { col = new Array(n); columns.set(k, col); }
      col[i] = flat[k];
    }
  }
  mean /= n;
  let total = 0;
  for (let i = 0; i < n; i++) total += (ys[i] - mean) ** 2;
  total = total || 1e-300;
  const effects = [];
  for (const [name, col] of columns) {
    const byValue = new Map();
    let numeric = true, lo = Infinity, hi = -Infinity, count = 0;
    for (let i = 0; i < n; i++) {
      const v = col[i];
      if (v === undefined) continue;
      count++;
      if (typeof v === "number") { if (v < lo) lo = v; if (v > hi) hi = v; } else numeric = false;
      const key = v !== null && typeof v === "object" ? JSON.stringify(v) : v;
      let g = byValue.get(key);
      if (!g) { g = {label: typeof key === "string" ? key : fmt(key), x: typeof v === "number" ? v : NaN, sum: 0, count: 0}; byValue.set(key, g); }
      g.sum += ys[i];
      g.count++;
    }
    if (byValue.size < 2) continue;
    let groups = [...byValue.values()];
    if (numeric && byValue.size > 12) {
      const bins = 8, width = (hi - lo) / bins;
      groups = Array.from({length: bins}, (_, b) => ({x: lo + (b + 0.5) * width, sum: 0, count: 0,
        label: `${fmt(+(lo + b * width).toPrecision(4))}–${fmt(+(lo + (b + 1) * width).toPrecision(4))}`}));
      for (let i = 0; i < n; i++) {
        const v = col[i];
        if (v === undefined) continue;
        const g = groups[Math.min(bins - 1, Math.floor((v - lo) / width))];
        g.sum += ys[i];
        g.count++;
      }
      groups = groups.filter((g) => g.count);
    } else if (numeric) {
      groups.sort((a, b) => a.x - b.x);
    }
    let between = 0;
    for (const g of groups) {
      g.mean = g.sum / g.count;
      between += g.count * (g.mean - mean) ** 2;
    }
    effects.push({name, numeric, groups, importance: Math.min(1, between / total), n: count});
  }
  effects.sort((a, b) => b.importance - a.importance);
  return effects;
}

function paretoFront(rows, maximize) {
  const pts = rows.filter((r) => Number.isFinite(r.v) && Number.isFinite(r.v2));
  const sign = maximize ? -1 : 1;
  pts.sort((a, b) => sign * (a.v - b.v) || sign * (a.v2 - b.v2));
  const front = [];
  let best = Infinity;
  for (const p of pts) if (sign * p.v2 < best) { front.push(p); best = sign * p.v2; }
  return front;
}

function failureGroups(rows) {
  const groups = new Map();
  for (const r of rows) {
    if (!r.failed) continue;
    const kind = r.failure || "invalid";
    const first = r.error ? String(r.error).trim().split("\n").filter((l) => l.trim()).pop() || "" : "";
    const reason = first ? `${kind}: ${first.slice(0, 200)}` : (r.failure ? kind : "invalid (the objective returned INVALID_SCORE)");
    if (!groups.has(reason)) groups.set(reason, {reason, rows: []});
    groups.get(reason).rows.push(r);
  }
  return [...groups.values()].sort((a, b) => b.rows.length - a.rows.length);
}

// ---------------------------------------------------------------------------------------------
// Views

let current = null;

class RunsView {
  constructor(root) {
    this.root = root;
    this.selected = new Set();
    this.body = el("tbody");
    this.compare = el("button", {class: "primary", id: "compare", disabled: true, onclick: () => {
      location.hash = `#/compare/${[...this.selected].map(encodeURIComponent).join(",")}`;
    }}, "Compare selected");
    put(root,
      el("h1", {}, "Runs"),
      el("div", {class: "card"},
        el("div", {class: "toolbar"}, this.compare, el("span", {class: "muted"}, "tick two or more runs to compare their best so far")),
        el("table", {id: "runs"},
          el("thead", {}, el("tr", {}, el("th"), el("th", {}, "run"), el("th", {}, "status"), el("th", {}, "started"),
            el("th", {}, "worker"), el("th", {}, "engine"), el("th", {class: "num"}, "evaluations"),
            el("th", {class: "num"}, "failures"), el("th", {class: "num"}, "best"))),
          this.body)));
    this.tick();
  }

  async tick() {
    try {
      const data = await api("/api/runs");
      document.getElementById("folder").textContent = data.folder;
      this.render(data.runs);
      setUpdated();
    } catch (e) {
      setUpdated(e.message);
    }
    if (current === this) this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  render(runs) {
    const rows = runs.map((r) => {
      const box = el("input", {type: "checkbox", "aria-label": "select for comparison",
                               checked: this.selected.has(r.run_id), onchange: (ev) => {
        if (ev.target.checked) this.selected.add(r.run_id); else this.selected.delete(r.run_id);
        this.compare.disabled = this.selected.size < 2;
      }});
      const best = r.best === null || r.best === undefined ? "-" : `${fmt(r.best)} (${r.problem_type || "min"})`;
      return el("tr", {"data-run-id": r.run_id},
        el("td", {}, box),
        el("td", {class: "id mono"}, el("a", {href: `#/run/${encodeURIComponent(r.run_id)}`}, r.run_id),
           r.error ? el("div", {class: "error"}, r.error) : null),
        el("td", {}, badge(r.status)), el("td", {}, fmtTime(r.started)), el("td", {}, r.worker || "-"),
        el("td", {}, r.engine || "-"),
        el("td", {class: "num", "data-field": "evaluations"}, r.evaluations ?? "-"),
        el("td", {class: "num", "data-field": "failures"}, r.failures ?? "-"),
        el("td", {class: "num", "data-field": "best"}, best));
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", {colspan: 9, class: "muted"}, "No runs in this folder yet.")));
    put(this.body, ...rows);
    this.compare.disabled = this.selected.size < 2;
  }

  stop() { clearTimeout(this.timer); }
}

class RunView {
  constructor(root, runId) {
    this.root = root;
    this.data = new RunData(runId);
    this.sections = {};
    this.lastParams = -Infinity;
    this.rendered = -1;
    put(root, el("p", {class: "muted"}, "Loading run…"));
    this.tick();
  }

  async tick() {
    let work = 0;
    try {
      const started = performance.now();
      await this.data.poll();
      if (this.data.version !== this.rendered) {
        this.render();
        this.rendered = this.data.version;
        window.__lastRenderMs = performance.now() - started;
        work = window.__lastRenderMs;
      } else {
        this.renderHeader();
      }
      setUpdated();
    } catch (e) {
      setUpdated(e.message);
      if (!this.data.meta) put(this.root, el("p", {class: "error", id: "run-error"}, e.message));
    }
    if (current === this) this.timer = setTimeout(() => this.tick(), nextPoll(work));
  }

  stop() { clearTimeout(this.timer); }

  section(key, title) {
    if (!this.sections[key]) {
      const body = el("div");
      this.sections[key] = {card: el("section", {class: "card", id: `section-${key}`}, el("h2", {}, title), body), body};
    }
    return this.sections[key];
  }

  renderHeader() {
    const d = this.data, meta = d.meta, evals = d.evaluations();
    const ok = evals.filter((r) => Number.isFinite(r.v));
    let best = NaN;
    for (const r of ok) if (!Number.isFinite(best) || d.better(r.v, best)) best = r.v;
    const failed = evals.filter((r) => r.failed).length;
    const span = evals.length ? evals[evals.length - 1].t : NaN;
    const stat = (label, value, id) => el("div", {class: "stat"}, el("div", {class: "label"}, label),
                                          el("div", {class: "value", id}, value));
    put(this.header,
      stat("status", badge(meta.status), "run-status"), stat("evaluations", evals.length, "eval-count"),
      stat("failures", failed, "fail-count"),
      stat(`best (${meta.config?.problem_type || "min"}${d.normalized ? ", normalized" : ""})`, fmt(best), "best-value"),
      stat("elapsed", fmtDuration(span), "elapsed"),
      stat("rate", evals.length && span > 0 ? `${fmt(+(evals.length / span).toFixed(2))} /s` : "-", "rate"));
  }

  render() {
    const d = this.data, meta = d.meta;
    if (!this.header) {
      this.header = el("div", {class: "stats"});
      put(this.root,
        el("h1", {}, "Run ", el("span", {class: "mono", id: "run-id"}, d.runId)), this.header,
        this.section("progress", "Best so far").card, this.section("pareto", "Pareto front (objectives 1 and 2)").card,
        this.section("params", "Parameters").card, this.section("failures", "Failures").card,
        this.section("best", "Best configurations").card, this.section("search", "Search").card);
      document.getElementById("folder").textContent = "";
    }
    const timings = {};
    const timed = (name, fn) => { const t = performance.now(); fn(); timings[name] = performance.now() - t; };
    const evals = d.evaluations();
    timed("header", () => this.renderHeader());
    timed("progress", () => this.renderProgress(evals));
    timed("pareto", () => this.renderPareto(evals));
    const now = performance.now();
    if (now - this.lastParams > 4000 || evals.length < 5000) {
      timed("params", () => this.renderParams(evals));
      this.lastParams = now;
    }
    timed("failures", () => this.renderFailures(evals));
    timed("best", () => this.renderBest(evals));
    timed("search", () => this.renderSearch(meta));
    window.__timings = timings;
  }

  renderProgress(evals) {
    const d = this.data, best = bestSoFar(evals, d);
    const n = evals.map((_, i) => i + 1), t = evals.map((r) => r.t), v = evals.map((r) => r.v);
    const failedN = [], failedT = [];
    evals.forEach((r, i) => { if (r.failed) { failedN.push(i + 1); failedT.push(r.t); } });
    const baseline = d.rows.find((r) => r.baseline && Number.isFinite(r.v));
    const objective = `objective 1${d.normalized ? " (normalized)" : ""}`;
    const make = (name, x, fx, xLabel, xFormat) => plot({
      name, title: `Best so far (${d.maximize ? "higher" : "lower"} is better)`, xLabel, yLabel: objective, xFormat,
      empty: evals.length && !evals.some((r) => Number.isFinite(r.v)) ? "no successful evaluation yet" :
        (evals.length ? undefined : "no evaluation yet"),
      series: [
        {type: "dots", x, y: v, color: OK, label: "evaluation"},
        {type: "step", x, y: best, color: BEST, label: "best so far", extendTo: x[x.length - 1]},
        {type: "ticks", x: fx, y: [], color: FAIL, label: fx.length ? "failed" : undefined},
        baseline ? {type: "hline", x: [], y: [baseline.v], color: "#666", label: "baseline"} : null,
      ].filter(Boolean)});
    put(this.section("progress").body, el("div", {class: "grid2"},
      make("best-vs-evaluations", n, failedN, "evaluation (arrival order)"),
      make("best-vs-time", t, failedT, "wall time since the run began", fmtDuration)));
  }

  renderPareto(evals) {
    const d = this.data, card = this.section("pareto");
    card.card.hidden = d.numObjectives < 2;
    if (d.numObjectives < 2) return;
    const front = paretoFront(evals, d.maximize);
    put(card.body, el("div", {class: "narrow"}, plot({
      name: "pareto", title: `${front.length} non-dominated of ${evals.length} (${d.maximize ? "higher" : "lower"} is better)`,
      xLabel: "objective 1", yLabel: "objective 2", width: 640, height: 320,
      series: [
        {type: "dots", x: evals.map((r) => r.v), y: evals.map((r) => r.v2), color: OK, label: "evaluation"},
        {type: "step", x: front.map((r) => r.v), y: front.map((r) => r.v2), color: FRONT, label: "Pareto front", markers: true},
      ]})), d.numObjectives > 2 ? el("p", {class: "muted"}, `Objectives 1 and 2 of ${d.numObjectives}.`) : null);
  }

  renderParams(evals) {
    const effects = paramEffects(evals), body = this.section("params").body;
    if (!effects.length) {
      put(body, el("p", {class: "muted"}, "Not enough successful evaluations with varied parameters yet."));
      return;
    }
    const ranking = barChart({
      name: "importance", title: "Importance: share of the objective's variance explained by each parameter alone",
      items: effects.slice(0, 20).map((e) => ({label: e.name, value: e.importance, note: `${(100 * e.importance).toFixed(1)} %`})),
    });
    const multiples = effects.slice(0, 12).map((e) => {
      const xs = e.groups.map((g, i) => (e.numeric ? g.x : i + 1));
      const chart = plot({
        name: `effect-${e.name}`, title: e.name, width: 320, height: 200, xLabel: e.numeric ? "value" : "value (see list)",
        yLabel: "mean objective", xTicks: e.numeric ? undefined : xs.slice(0, 12),
        xFormat: e.numeric ? undefined : (i) => { const l = e.groups[i - 1]?.label ?? ""; return l.length > 8 ? l.slice(0, 7) + "…" : l; },
        series: [{type: "line", x: xs, y: e.groups.map((g) => g.mean), color: OK, markers: true}],
      });
      const list = e.numeric ? null : el("div", {class: "muted mono"},
        e.groups.slice(0, 12).map((g, i) => el("div", {}, `${i + 1}: ${g.label} (n=${g.count}, mean ${fmt(g.mean)})`)));
      return el("div", {class: "effect"}, chart, list);
    });
    put(body, ranking, el("h3", {}, "Mean objective per value (top parameters)"),
                         el("div", {class: "small-multiples"}, multiples));
  }

  renderFailures(evals) {
    const groups = failureGroups(evals), d = this.data, body = this.section("failures").body;
    const logs = new Set(d.meta.logs || []);
    if (!groups.length) { put(body, el("p", {class: "muted"}, "No failed evaluation.")); return; }
    const open = new Set([...body.querySelectorAll("details[open]")].map((n) => n.dataset.reason));
    put(body, ...groups.map((g) => {
      const examples = g.rows.slice(-5).reverse().map((r) => {
        const output = el("div");
        const button = logs.has(r.paramId) ? el("button", {onclick: async () => {
          try {
            const response = await fetch(`${runPath(d.runId)}/logs/${encodeURIComponent(r.paramId)}`);
            put(output, el("pre", {class: "log"}, await response.text()));
          } catch (e) { put(output, el("p", {class: "error"}, e.message)); }
        }}, "show captured output") : null;
        return el("div", {class: "failure-example"},
          el("div", {class: "mono"}, `#${r.seq} gen ${r.generation} · ${r.paramId} · `, JSON.stringify(r.params)),
          r.error ? el("pre", {class: "failure-error"}, r.error) : null, button, output);
      });
      const details = el("details", {"data-reason": g.reason, open: open.has(g.reason)},
        el("summary", {}, el("strong", {}, `${g.rows.length} × `), el("span", {class: "mono failure-reason"}, g.reason)),
        examples);
      return details;
    }));
  }

  renderBest(evals) {
    const d = this.data, body = this.section("best").body;
    const ok = evals.filter((r) => Number.isFinite(r.v));
    const top = d.numObjectives >= 2 ? paretoFront(ok, d.maximize).slice(0, 20) : topK(ok, 10, d);
    if (!top.length) { put(body, el("p", {class: "muted"}, "No successful evaluation yet.")); return; }
    put(body,
      d.numObjectives >= 2 ? el("p", {class: "muted"}, "The Pareto front's members.") : null,
      el("table", {id: "best-table"},
        el("thead", {}, el("tr", {}, el("th", {class: "num"}, "rank"), el("th", {class: "num"}, "score"),
          el("th", {class: "num"}, "evaluation"), el("th", {class: "num"}, "generation"), el("th", {}, "configuration"),
          el("th"))),
        el("tbody", {}, top.map((r, i) => {
          const json = JSON.stringify(r.params);
          const status = el("span", {class: "muted"});
          return el("tr", {},
            el("td", {class: "num"}, i + 1), el("td", {class: "num"}, fmt(r.score)), el("td", {class: "num"}, r.seq),
            el("td", {class: "num"}, r.generation), el("td", {class: "mono config"}, json),
            el("td", {}, el("button", {onclick: () => copy(json, status)}, "copy JSON"), " ", status));
        }))));
  }

  renderSearch(meta) {
    const body = this.section("search").body;
    if (this.searchShown === JSON.stringify([meta.status, meta.sessions, meta.versions])) return;
    this.searchShown = JSON.stringify([meta.status, meta.sessions, meta.versions]);
    const kv = (obj) => el("table", {class: "kv"}, el("tbody", {}, Object.entries(obj || {}).map(([k, v]) =>
      el("tr", {}, el("td", {}, k), el("td", {class: "mono"}, fmt(v))))));
    const engine = meta.engine || {};
    put(body, el("div", {class: "grid2"},
      el("div", {}, el("h3", {}, "Configuration"), kv(meta.config)),
      el("div", {},
        el("h3", {}, "Engine, worker, versions"),
        kv({engine: engine.name, "engine options": engine.options, seed: engine.seed, worker: meta.worker,
            "exit on failure": meta.exit_on_failure, started: fmtTime(meta.created), command: (meta.argv || []).join(" ")}),
        kv(meta.versions),
        el("h3", {}, "Sessions (the first start and each resume)"),
        el("table", {}, el("tbody", {}, (meta.sessions || []).map((s) => el("tr", {},
          el("td", {}, `#${s.id}`), el("td", {}, fmtTime(s.started)), el("td", {}, s.ended ? fmtTime(s.ended) : "-"),
          el("td", {}, s.status), el("td", {class: "mono"}, `pid ${s.pid}`), el("td", {class: "mono"}, s.error || "")))))),
      ),
      el("details", {}, el("summary", {}, "search space (JSON)"), el("pre", {}, JSON.stringify(meta.space, null, 1))));
  }
}

function copy(text, status) {
  const done = (message) => { status.textContent = message; setTimeout(() => { status.textContent = ""; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done("copied"), () => fallback());
  } else {
    fallback();
  }
  function fallback() {
    const area = el("textarea", {readonly: true});
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    done(ok ? "copied" : "select the text to copy");
  }
}

class CompareView {
  constructor(root, ids) {
    this.root = root;
    this.runs = ids.map((id) => new RunData(id));
    this.body = el("div");
    this.table = el("tbody");
    put(root, el("h1", {}, `Comparing ${ids.length} runs`),
      el("section", {class: "card"}, el("table", {id: "compare-table"}, el("thead", {}, el("tr", {},
        el("th"), el("th", {}, "run"), el("th", {}, "status"), el("th", {}, "engine"), el("th", {}, "worker"),
        el("th", {class: "num"}, "evaluations"), el("th", {class: "num"}, "best"))), this.table)),
      el("section", {class: "card"}, el("h2", {}, "Best so far"), this.body));
    this.versions = "";
    this.tick();
  }

  async tick() {
    const started = performance.now();
    try {
      await Promise.all(this.runs.map((r) => r.poll()));
      const versions = this.runs.map((r) => `${r.version}:${r.meta.status}`).join();
      if (versions !== this.versions) { this.render(); this.versions = versions; }
      setUpdated();
    } catch (e) {
      setUpdated(e.message);
    }
    if (current === this) this.timer = setTimeout(() => this.tick(), nextPoll(performance.now() - started));
  }

  stop() { clearTimeout(this.timer); }

  render() {
    const series = (key) => this.runs.map((r, i) => {
      const evals = r.evaluations();
      return {type: "step", x: key === "n" ? evals.map((_, k) => k + 1) : evals.map((e) => e.t),
              y: bestSoFar(evals, r), color: COLORS[i % COLORS.length], label: `run ${i + 1}`,
              extendTo: evals.length ? (key === "n" ? evals.length : evals[evals.length - 1].t) : undefined};
    });
    const directions = new Set(this.runs.map((r) => r.maximize));
    const note = directions.size > 1 ? el("p", {class: "error"}, "These runs optimize in opposite directions.") : null;
    put(this.body, note, el("div", {class: "grid2"},
      plot({name: "compare-evaluations", title: "Best so far against evaluations", xLabel: "evaluation",
            yLabel: "objective 1", series: series("n")}),
      plot({name: "compare-time", title: "Best so far against wall time", xLabel: "wall time since the run began",
            yLabel: "objective 1", xFormat: fmtDuration, series: series("t")})));
    put(this.table, ...this.runs.map((r, i) => {
      const evals = r.evaluations(), best = bestSoFar(evals, r);
      return el("tr", {"data-run-id": r.runId},
        el("td", {}, el("span", {class: "badge", style: null}, `run ${i + 1}`)),
        el("td", {class: "id mono"}, el("a", {href: `#/run/${encodeURIComponent(r.runId)}`}, r.runId)),
        el("td", {}, badge(r.meta.status)), el("td", {}, r.meta.engine?.name || "-"), el("td", {}, r.meta.worker || "-"),
        el("td", {class: "num"}, evals.length), el("td", {class: "num"}, fmt(best.length ? best[best.length - 1] : null)));
    }));
    this.table.querySelectorAll(".badge:not([data-field])").forEach((node, i) => {
      node.style.background = COLORS[i % COLORS.length];
      node.style.color = "#fff";
    });
  }
}

function route() {
  if (current) current.stop();
  const root = document.getElementById("view");
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean);
  window.scrollTo(0, 0);
  const decode = (text) => { try { return decodeURIComponent(text); } catch (e) { return text; } };
  if (parts[0] === "run" && parts[1]) current = new RunView(root, decode(parts[1]));
  else if (parts[0] === "compare" && parts[1]) current = new CompareView(root, parts[1].split(",").map(decode));
  else current = new RunsView(root);
}

window.addEventListener("hashchange", route);
route();
