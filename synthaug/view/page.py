"""The viewer's page: one HTML document, inline CSS and JS (run by CSP nonce), nothing external.

Record text only ever enters the page as text (``textContent``), never as HTML. Keys: see KEYS.
"""

from __future__ import annotations

import html

KEYS = (
    "Keys: j or Down / k or Up select the next / previous row (across pages), Enter opens its "
    "detail (j/k then move through the details), Escape closes it (or leaves the search box), "
    "/ focuses the search, n / p turn to the next / previous page."
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synthaug view: __FILE__</title>
<style nonce="__NONCE__">
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.5rem 1rem;z-index:1}
header .bar{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
#search{flex:1;min-width:14rem;font:inherit;padding:.3rem}
select,button,input{font:inherit}
main{display:flex;gap:1rem;padding:0 1rem}
#list{flex:1;min-width:0}
table{border-collapse:collapse;width:100%}
td,th{padding:.2rem .4rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
tr.row{cursor:pointer}tr.row.selected{background:#dbeafe;outline:2px solid #1d4ed8}
td.text{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:40rem}
.badge{display:inline-block;border-radius:4px;padding:0 .3rem;font-size:.8rem;background:#eee}
.bad{background:#fee2e2;color:#991b1b}.good{background:#dcfce7;color:#166534}.pair{background:#ede9fe}
#detail{flex:1;min-width:0;border-left:2px solid #1d4ed8;padding-left:1rem;max-height:calc(100vh - 6rem);overflow:auto;position:sticky;top:5.5rem}
.sides{display:flex;gap:1rem}.sides>div{flex:1;min-width:0;border:1px solid #ccc;border-radius:6px;padding:.5rem}
#d-chosen{border-color:#16a34a}#d-rejected{border-color:#dc2626}
.text-block,pre{white-space:pre-wrap;word-break:break-word}
pre{background:#f6f6f6;padding:.5rem;border-radius:4px;font-size:.85rem}
.ancestor{border-left:3px solid #aaa;padding-left:.5rem;margin:.5rem 0}
img{max-width:100%;max-height:24rem;border:1px solid #ccc}
.muted{color:#666}
[hidden]{display:none!important}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 .25rem;font-size:.8rem}
</style></head>
<body>
<header><div class="bar"><strong>synthaug view</strong> <span id="file" class="muted"></span>
<input id="search" type="search" placeholder="search every field  ( / )" autocomplete="off">
<select id="f-step" data-facet="step"><option value="">any step</option></select>
<select id="f-error" data-facet="error"><option value="">any error</option></select>
<select id="f-verdict" data-facet="verdict"><option value="">any verdict</option></select>
<select id="f-label" data-facet="label"><option value="">any label</option></select>
</div><div class="bar">
<button id="prev">&larr; <kbd>p</kbd></button><span id="page-info"></span>
<button id="next"><kbd>n</kbd> &rarr;</button>
<label class="muted">go to page <input id="goto" type="number" min="1" size="8"></label>
<span id="status" role="status"></span><span id="facets-status" class="muted"></span>
<span class="muted">keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> open, <kbd>Esc</kbd> close, <kbd>/</kbd> search</span>
</div></header>
<main><section id="list"><table><thead><tr><th>#</th><th>step</th><th>flags</th><th>text</th></tr></thead>
<tbody id="rows"></tbody></table></section>
<section id="detail" hidden>
<h3 id="d-title"></h3><div id="d-meta" class="muted"></div>
<div id="d-pair" hidden><h4>Preference pair</h4><div id="d-prompt" class="text-block"></div>
<div class="sides"><div id="d-chosen"><b>chosen</b> <span class="score muted"></span><div class="text-block"></div></div>
<div id="d-rejected"><b>rejected</b> <span class="score muted"></span><div class="text-block"></div></div></div></div>
<div id="d-verification" hidden><h4>Verification</h4><pre></pre></div>
<div id="d-error" hidden><h4>Error</h4><pre></pre></div>
<div id="d-images" hidden><h4>Images</h4></div>
<h4>Lineage</h4><div id="d-lineage"></div>
<h4>Record</h4><pre id="d-record"></pre>
</section></main>
<script nonce="__NONCE__">
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 50;
let total = 0, rows = [], selected = -1, detailOpen = false;
let offset = 0, cursors = [0], pageNo = 0, filterCount = null, loading = 0;
const facetNames = ["step", "error", "verdict", "label"];

async function get(path, params) {
  const response = await fetch(path + "?" + new URLSearchParams(params), {credentials: "same-origin"});
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
function filters() {
  const out = {};
  for (const name of facetNames) { const v = $("f-" + name).value; if (v) out[name] = v; }
  const q = $("search").value.trim(); if (q) out.q = q;
  return out;
}
const filtered = () => Object.keys(filters()).length > 0;
function badges(row) {
  const td = el("td");
  if (row.part === "errors") td.append(el("span", "errors file", "badge bad"), " ");
  if (row.error !== "(none)") td.append(el("span", row.error, "badge bad"), " ");
  if (row.verdict !== "(none)") td.append(el("span", row.verdict, "badge " + (row.verdict === "verified" ? "good" : "bad")), " ");
  if (row.label !== "(none)") td.append(el("span", "label: " + row.label, "badge"), " ");
  if (row.pair) td.append(el("span", "pair", "badge pair"));
  return td;
}
function render(selectAt) {
  $("rows").replaceChildren(...rows.map((row, i) => {
    const tr = el("tr", undefined, "row"); tr.dataset.index = row.index; tr.dataset.step = row.step;
    tr.append(el("td", String(row.index + 1)), el("td", row.step), badges(row), el("td", row.text, "text"));
    tr.addEventListener("click", () => { detailOpen = true; select(i); });
    return tr;
  }));
  select(Math.min(Math.max(selectAt, 0), rows.length - 1));
}
function select(i) {
  selected = i;
  document.querySelectorAll("tr.row").forEach((tr, j) => tr.classList.toggle("selected", j === i));
  const tr = document.querySelectorAll("tr.row")[i];
  if (tr) tr.scrollIntoView({block: "nearest"});
  if (detailOpen) openDetail().catch(say);
}
async function load(selectAt = 0) {
  const mine = ++loading;  // a slower, older answer never replaces a newer one
  if (filtered()) {
    const data = await get("/api/rows", {...filters(), cursor: cursors[pageNo], limit: PAGE});
    if (mine !== loading) return;
    rows = data.rows; total = data.total;
    if (pageNo === 0) filterCount = data;
    cursors[pageNo + 1] = data.next;
    const c = filterCount;
    $("status").textContent = c.done ? c.matched.toLocaleString() + " matching rows"
      : "at least " + c.matched.toLocaleString() + " matching rows (counted the first " + c.counted_to.toLocaleString() + " of " + total.toLocaleString() + ")";
    $("page-info").textContent = "page " + (pageNo + 1);
    $("next").disabled = data.next === null; $("prev").disabled = pageNo === 0;
  } else {
    const data = await get("/api/rows", {offset, limit: PAGE});
    if (mine !== loading) return;
    rows = data.rows; total = data.total;
    $("status").textContent = total.toLocaleString() + " rows";
    $("page-info").textContent = "page " + (offset / PAGE + 1).toLocaleString() + " of " + Math.max(1, Math.ceil(total / PAGE)).toLocaleString();
    $("next").disabled = offset + PAGE >= total; $("prev").disabled = offset === 0;
  }
  render(selectAt === "last" ? rows.length - 1 : selectAt);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}
async function turn(step, selectAt = 0) {
  if (filtered()) {
    if (step > 0 && cursors[pageNo + 1] === null) return false;
    if (step < 0 && pageNo === 0) return false;
    pageNo += step;
  } else {
    const to = offset + step * PAGE;
    if (to < 0 || to >= total) return false;
    offset = to;
  }
  await load(selectAt); return true;
}
async function goToPage(n) { if (!(n >= 1)) return; offset = Math.max(0, Math.min(n - 1, Math.ceil(total / PAGE) - 1)) * PAGE; await load(); }
function refilter() { pageNo = 0; cursors = [0]; offset = 0; load().catch(say); }
function say(error) { $("status").textContent = error.message; }
async function move(step) {
  const to = selected + step;
  if (to >= 0 && to < rows.length) select(to);
  else await turn(step, step > 0 ? 0 : "last");
}
function pre(value) { return JSON.stringify(value, null, 2); }
async function openDetail() {
  if (selected < 0 || !rows[selected]) return;
  const index = rows[selected].index;
  detailOpen = true; $("detail").hidden = false;
  const d = await get("/api/row", {index});
  if (!detailOpen || !rows[selected] || rows[selected].index !== index) return;
  $("detail").dataset.index = index;
  $("d-title").textContent = "row " + (index + 1) + (d.id ? " · " + d.id : "");
  $("d-meta").textContent = [d.part === "errors" ? "errors file" : "", "step " + d.step, d.method ? "method " + d.method : "", d.file + " row " + d.row].filter(Boolean).join(" · ");
  $("d-pair").hidden = !d.pair;
  if (d.pair) {
    $("d-prompt").textContent = d.pair.prompt;
    for (const side of ["chosen", "rejected"]) {
      const box = $("d-" + side), s = d.pair[side];
      box.querySelector(".text-block").textContent = s.text;
      box.querySelector(".score").textContent = [s.score !== null ? "score " + s.score : "", s.model || ""].filter(Boolean).join(" · ");
    }
  }
  $("d-verification").hidden = !d.verification;
  $("d-verification").querySelector("pre").textContent = d.verification ? pre(d.verification) : "";
  const error = (d.record._meta || {}).error || (d.record._malformed ? {kind: "malformed_line", message: d.record._malformed} : null);
  $("d-error").hidden = !error; $("d-error").querySelector("pre").textContent = error ? pre(error) : "";
  $("d-images").hidden = d.images.length === 0;
  $("d-images").replaceChildren(el("h4", "Images"), ...d.images.map((field) => {
    const figure = el("figure"); const img = el("img"); img.alt = field;
    img.src = "/api/image?" + new URLSearchParams({index, field});
    figure.append(img, el("figcaption", field, "muted")); return figure;
  }));
  const chain = [d.record, ...d.lineage];
  $("d-lineage").replaceChildren(...chain.map((r, depth) => {
    const m = r._meta || {}; const box = el("div", undefined, "ancestor");
    box.dataset.step = m.step || ""; box.dataset.depth = depth;
    box.append(el("b", (depth === 0 ? "this record" : "parent " + depth) + ": " + (m.step || "?")),
      el("span", " " + (m.method || "") + " · " + (m.id || "") + (m.parents && m.parents.length ? " ← " + m.parents.join(", ") : ""), "muted"));
    if (depth > 0) { const body = el("pre"); const {_meta, ...fields} = r; body.textContent = pre(fields); box.append(body); }
    return box;
  }));
  if (d.lineage.length === 0) $("d-lineage").append(el("div", "no earlier step found (the run's checkpoints are not beside the file)", "muted"));
  $("d-record").textContent = pre(d.record);
}
function closeDetail() { detailOpen = false; $("detail").hidden = true; delete $("detail").dataset.index; }
async function facets() {
  const data = await get("/api/facets", {});
  for (const name of facetNames) {
    const select = $("f-" + name), keep = select.value;
    const counts = data.counts[name];
    const options = [el("option", select.options[0].textContent)]; options[0].value = "";
    for (const [value, n] of Object.entries(counts)) {
      const option = el("option", value + " (" + n.toLocaleString() + ")"); option.value = value; options.push(option);
    }
    if (keep && !(keep in counts)) { const o = el("option", keep); o.value = keep; options.push(o); }
    select.replaceChildren(...options); select.value = keep;
  }
  $("facets-status").textContent = data.done ? "" : "counting values: " + data.rows.toLocaleString() + " of " + total.toLocaleString() + " rows";
  document.body.dataset.facets = data.done ? "done" : "counting";
  if (!data.done) setTimeout(() => facets().catch(say), 1000);
}
document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName);
  if (typing) { if (event.key === "Escape") event.target.blur(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const keys = {
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    Enter: openDetail, Escape: closeDetail, n: () => turn(1), p: () => turn(-1),
    "/": () => $("search").focus(),
  };
  const action = keys[event.key];
  if (action) { event.preventDefault(); Promise.resolve(action()).catch(say); }
});
let typingTimer = null;
$("search").addEventListener("input", () => { clearTimeout(typingTimer); typingTimer = setTimeout(refilter, 300); });
$("search").addEventListener("keydown", (event) => { if (event.key === "Enter") { clearTimeout(typingTimer); refilter(); event.target.blur(); } });
for (const name of facetNames) {
  $("f-" + name).addEventListener("change", (event) => { event.target.blur(); refilter(); });
}
$("next").addEventListener("click", () => turn(1).catch(say));
$("prev").addEventListener("click", () => turn(-1).catch(say));
$("goto").addEventListener("change", () => { if (!filtered()) goToPage(Number($("goto").value)).catch(say); });
(async () => {
  const info = await get("/api/info", {});
  total = info.total;
  $("file").textContent = info.parts.map((p) => p.file + " (" + p.rows.toLocaleString() + " rows)").join(" + ");
  await load(); await facets();
})().catch(say);
</script></body></html>
"""


def render_page(nonce: str, file: str) -> str:
    """The page with this response's CSP ``nonce``, titled by the ``file`` shown."""
    return PAGE.replace("__NONCE__", nonce).replace("__FILE__", html.escape(file))
