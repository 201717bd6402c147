"use strict";
const errors = [];
window.addEventListener("error", e => errors.push(String(e.message)));
const R = JSON.parse(document.getElementById("data").textContent);
const FIG = JSON.parse(document.getElementById("figures").textContent);
const $ = id => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) k === "text" ? (e.textContent = v) : e.setAttribute(k, v);
  for (const c of kids) if (c != null) e.append(c);
  return e;
}
const pct = v => v == null || Number.isNaN(v) ? "—" : (100 * v).toFixed(2);
const num = v => v == null ? "—" : (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(4) + "");
const pm = s => s.mean == null ? "—" : s.n > 1 ? pct(s.mean) + " ± " + pct(s.std) : pct(s.mean);
function table(head, rows, firstLeft) {
  const t = el("table");
  t.append(el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", {class: i === 0 && firstLeft ? "l" : "", text: h})))));
  const b = el("tbody");
  for (const r of rows) b.append(el("tr", {}, ...r.map((c, i) => el("td", {class: i === 0 && firstLeft ? "l" : "", text: c}))));
  t.append(b);
  return t;
}
const content = $("content");
function section(id, title) {
  const h = el("h2", {id, text: title});
  content.append(h);
  $("nav").append(el("a", {href: "#" + id, text: title}));
  return content;
}

// The experiment, its provenance and spec.
const exps = R.provenance.experiments;
if (exps.length) { $("title").textContent = exps.map(e => e.name).join(", "); $("description").textContent = exps.map(e => e.description).join(" "); }
const inv = R.provenance.invocations;
if (inv.length) {
  const last = inv[inv.length - 1];
  section("provenance", "Provenance");
  content.append(table(["", ""], [["command", last.command], ["engine", last.engine_version + " (git " + String(last.git_commit).slice(0, 12) + (last.git_dirty ? ", dirty" : "") + ")"],
    ["LibTorch", last.torch_version], ["host", last.host], ["started", new Date(last.started_at * 1000).toISOString()],
    ["overrides (--set)", last.overrides.map(o => o.path + "=" + JSON.stringify(o.value)).join("; ") || "none"], ["invocations", String(inv.length)]], true));
  content.append(table(["plugin", "kind", "version", "SHA-256"], last.plugins.map(p => [p.name, p.kind, p.version, p.sha256.slice(0, 16)]), true));
  content.append(el("details", {}, el("summary", {text: "spec (after the overrides)"}), el("pre", {text: JSON.stringify(last.spec, null, 2)})));
}

// Table 2.
if (R.table2.length) {
  section("table2", "Table 2 — token-wise quantization");
  content.append(el("p", {class: "note", text: "Metric in %. Random: the same steps permuted over tokens, mean ± std over its seeds; Δ = FeatJND-based − Random."}));
  for (const b of R.table2) {
    content.append(el("h3", {text: b.task + " (" + b.metric + ")"}));
    const rows = [];
    for (const r of b.rows) {
      rows.push([String(r.sigma_q), "FeatJND-based", ...r.cells.map(c => pct(c.featjnd.mean))]);
      rows.push(["", "Random", ...r.cells.map(c => pm(c.random))]);
      rows.push(["", "Δ", ...r.cells.map(c => c.delta == null ? "—" : (c.delta >= 0 ? "+" : "") + pct(c.delta))]);
      rows.push(["", "Uniform", ...r.cells.map(c => pct(c.uniform.mean))]);
    }
    content.append(table(["σ_q", "", ...b.columns], rows, true));
  }
}

// The paper's comparison tables, per metric and setting.
for (const [metric, a] of Object.entries(R.analyses)) {
  section("tables-" + metric, "Tables — " + metric);
  for (const g of a.groups) {
    content.append(el("h3", {text: g.label + "  (clean " + metric + " " + pct(g.clean.mean) + " %)"}));
    for (const m of g.matched_nrmse) {
      content.append(el("div", {class: "note", text: m.method + " against " + m.baseline + " at matched NRMSE: above at " + m.wins + " of " + m.counted + " points where the baseline lost ≥ 1 point"}));
      content.append(table(["α", "NRMSE", m.method + " %", "Gaussian % (± std)", "diff"], m.rows.map(r => [num(r.strength), num(r.nrmse), pct(r.value), pm(r.baseline), pct(r.diff)])));
    }
    for (const q of g.quantization) {
      content.append(el("div", {class: "note", text: "Quantization" + q.suffix + ": FeatJND-guided above random at " + q.guided_above_random.above + "/" + q.guided_above_random.compared +
        " budgets, above uniform at " + q.guided_above_uniform.above + "/" + q.guided_above_uniform.compared + "; at matched measured NRMSE above random at " +
        q.guided_above_random_at_nrmse.above + "/" + q.guided_above_random_at_nrmse.compared + ", above uniform at " + q.guided_above_uniform_at_nrmse.above + "/" + q.guided_above_uniform_at_nrmse.compared}));
      content.append(table(["σ_q", "guided %", "[NRMSE]", "random %", "[NRMSE]", "uniform %", "[NRMSE]", "random @NRMSE", "uniform @NRMSE"],
        q.rows.map(r => [num(r.sigma_q), pct(r.guided.mean), num(r.guided_nrmse.mean), pm(r.random), num(r.random_nrmse.mean), pct(r.uniform.mean), num(r.uniform_nrmse.mean), pm(r.random_at_guided_nrmse), pct(r.uniform_at_guided_nrmse.mean)])));
    }
    if (g.rate && g.rate.curves.length) {
      content.append(el("div", {class: "note", text: "Rate–accuracy (codec mode, side information included): " + g.rate.bd_rates.map(b =>
        "BD-rate of " + b.test + " against " + b.anchor + " " + (b.bd_rate == null ? "— (" + b.why + ")" : (b.bd_rate >= 0 ? "+" : "") + b.bd_rate.toFixed(2) + " %")).join("; ")}));
      const rows = [];
      for (const c of g.rate.curves)
        for (const p of c.points) rows.push([c.label, num(p.strength), num(p.bpp), num(p.bits_per_element), pct(p.side_share), pct(p.metric)]);
      content.append(table(["method", "strength", "bpp", "bits/element", "side %", metric + " %"], rows));
    }
    for (const c of g.curves)
      content.append(el("details", {}, el("summary", {text: c.label + ": " + c.points.length + " points (mean ± std over " + Math.max(...c.points.map(p => p.metric.n)) + " runs)"}),
        table([c.strength_key || "point", metric + " %", "NRMSE", "cosine", "runs"], c.points.map(p => [num(p.strength), pm(p.metric), num(p.nrmse.mean), num(p.cosine.mean), p.runs.map(r => r.run).join(" ")]))));
  }
}

// Figures.
const figNames = Object.keys(FIG).sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
if (figNames.length) {
  section("figures", "Figures");
  for (const n of figNames) content.append(el("figure", {}, el("img", {src: FIG[n], alt: n}), el("figcaption", {text: n})));
}

// Inspection images.
if (R.inspections.length) {
  section("inspections", "Attribution and tolerance maps");
  for (const insp of R.inspections) {
    content.append(el("h3", {text: insp.network + " — " + insp.label + " (run " + insp.run + ")"}));
    for (const im of insp.images) {
      const m = im.metrics || {};
      const row = el("div", {class: "imgrow"});
      for (const f of ["image", "tolerance", "ig_clean", "ig_distorted", "ig_difference", "ig_gaussian"])
        if (im.files && im.files[f]) row.append(el("img", {src: im.files[f], title: f, alt: f}));
      content.append(row, el("div", {class: "note", text: "#" + im.index + (m.spearman != null ? "  Spearman " + num(m.spearman) + ", top-k overlap " + num(m.topk_overlap) +
        (m.spearman_gaussian != null ? "; Gaussian at the same NRMSE: Spearman " + num(m.spearman_gaussian) + ", top-k " + num(m.topk_overlap_gaussian) : "") : "") + (m.nrmse != null ? "; NRMSE " + num(m.nrmse) : "")}));
    }
  }
}

// The runs table: filter, sort, varying-only, CSV.
const base = ["id", "stage", "status", "label", "seconds"];
const paramKeys = [...new Set(R.runs.flatMap(r => Object.keys(r.params)))].sort();
const metricKeys = [...new Set(R.runs.flatMap(r => Object.keys(r.metrics)))].sort();
// A parameter varies when it takes two values among the runs that have it (a stage's own
// parameters, absent from the other stages' runs, do not vary for being absent).
const varyingKeys = new Set(paramKeys.filter(k => new Set(R.runs.filter(r => k in r.params).map(r => JSON.stringify(r.params[k]))).size > 1));
const cell = (r, c) => c.startsWith("p:") ? r.params[c.slice(2)] : c.startsWith("m:") ? r.metrics[c.slice(2)] : r[c];
let sortCol = "id", sortDir = 1;
function columns() { return [...base, ...paramKeys.filter(k => !$("varying").checked || varyingKeys.has(k)).map(k => "p:" + k), ...metricKeys.map(k => "m:" + k)]; }
function visible() {
  const q = $("filter").value.toLowerCase(), cols = columns();
  const rows = R.runs.filter(r => !q || cols.some(c => String(cell(r, c) ?? "").toLowerCase().includes(q)));
  return rows.sort((a, b) => { const x = cell(a, sortCol), y = cell(b, sortCol);
    return sortDir * (typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""))); });
}
function show(v) { return v == null ? "" : typeof v === "number" ? num(v) : String(v); }
function drawRuns() {
  const cols = columns(), rows = visible();
  const head = $("runs").tHead, body = $("runs").tBodies[0];
  head.replaceChildren(el("tr", {}, ...cols.map(c => { const th = el("th", {class: "l", text: c.replace(/^[pm]:/, "") + (c === sortCol ? (sortDir > 0 ? " ▲" : " ▼") : "")});
    th.onclick = () => { sortDir = c === sortCol ? -sortDir : 1; sortCol = c; drawRuns(); }; return th; })));
  body.replaceChildren(...rows.map(r => el("tr", {}, ...cols.map(c => el("td", {class: "l", text: show(cell(r, c))})))));
  $("count").textContent = rows.length + " of " + R.runs.length + " runs, " + cols.length + " columns";
}
$("filter").oninput = drawRuns;
$("varying").onchange = drawRuns;
$("csv").onclick = () => {
  const cols = columns(), q = s => '"' + String(s ?? "").replaceAll('"', '""') + '"';
  const text = [cols.map(q).join(","), ...visible().map(r => cols.map(c => q(cell(r, c))).join(","))].join("\n");
  const a = el("a", {href: URL.createObjectURL(new Blob([text], {type: "text/csv"})), download: "runs.csv"});
  document.body.append(a); a.click(); a.remove();
};
drawRuns();

// #selftest=TEXT: the page reports what it shows after each action — rows after filtering by TEXT
// (their run ids), the columns with "parameters that vary only", the ids sorted by id descending,
// the rate note — and the headless-browser test checks them against the database itself.
if (location.hash.startsWith("#selftest")) {
  const out = [], ids = () => [...$("runs").tBodies[0].rows].map(r => Number(r.cells[0].textContent));
  const text = decodeURIComponent(location.hash.slice("#selftest=".length));
  $("filter").value = text; drawRuns();
  out.push("filter " + JSON.stringify(text) + " ids " + JSON.stringify(ids().sort((a, b) => a - b)));
  $("filter").value = ""; $("varying").checked = true; drawRuns();
  out.push("varying columns " + JSON.stringify([...$("runs").tHead.rows[0].cells].map(c => c.textContent.replace(/ [▲▼]$/, ""))));
  $("varying").checked = false; sortCol = "id"; sortDir = -1; drawRuns();
  out.push("sorted ids " + JSON.stringify(ids()));
  out.push("rate notes " + JSON.stringify([...document.querySelectorAll(".note")].map(n => n.textContent).filter(t => t.startsWith("Rate–accuracy"))));
  out.push("figures " + figNames.length + ", tables " + document.querySelectorAll("#content table").length + ", images " + document.querySelectorAll(".imgrow img").length);
  out.push(errors.length ? "FAIL errors: " + errors.join("; ") : "ok no script errors");
  $("selftest").textContent = "selftest\n" + out.join("\n");
}
