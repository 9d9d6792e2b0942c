"""The review page: one HTML document, inline CSS and JS (run by CSP nonce), nothing external.

Keys (label mode): 1-9 pick a label (accept when it is the LLM's), Enter or a accept the
LLM's label, e edit the text (Ctrl+Enter saves, Escape cancels), r reject, s skip.
Dialogue mode: Ctrl+Enter accepts the proposed turns (as edited) and asks for the next ones,
Escape leaves the text box, f finishes (the proposal box is kept), r reject, s skip. The annotator id is asked once
and kept in localStorage, unless the session was opened with a per-annotator token. A row's
pictures (its ``image``/``images`` paths in the image store beside DATA) show above its text.
"""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="__CSRF__">
<meta name="annotator" content="__ANNOTATOR__">
<title>synthaug review</title>
<style nonce="__NONCE__">
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:1rem auto;padding:0 1rem;color:#222}
header{display:flex;gap:1rem;align-items:center}
progress{flex:1;height:1rem}
.card{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
#text,#scenario{white-space:pre-wrap;font-size:1.1rem}
.llm{background:#f4f7fb}
.muted{color:#666;font-size:.9rem}
button{font:inherit;margin:.2rem;padding:.3rem .7rem;border-radius:6px;border:1px solid #888;background:#fff;cursor:pointer}
button.primary{background:#1d4ed8;color:#fff;border-color:#1d4ed8}
textarea{width:100%;min-height:8rem;font:inherit}
.turn{margin:.3rem 0}.turn b{display:inline-block;min-width:6rem}
#images img{max-width:100%;max-height:24rem;display:block;margin:.3rem 0}
#message{min-height:1.5rem;color:#b91c1c}
[hidden]{display:none!important}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 .25rem;font-size:.8rem}
</style></head>
<body data-mode="__MODE__">
<header><strong>synthaug review</strong>
<progress id="progress" value="0" max="1"></progress><span id="count">0 / 0</span>
<span class="muted">annotator: <span id="who"></span> <button id="change-who">change</button></span>
</header>
<form id="login" class="card" hidden>
<label>Your annotator id: <input id="annotator" required maxlength="64"></label>
<button class="primary" type="submit">Start</button></form>
<div id="message" role="status"></div>
<section id="empty" class="card" hidden>The queue is empty: every item is done (or leased to someone else).</section>
<section id="label-view" hidden>
<div class="card"><div id="images"></div><div id="text"></div></div>
<div class="card llm">LLM label: <strong id="llm-label"></strong>
<span class="muted">confidence <span id="confidence"></span> <span id="votes"></span></span>
<div id="explanation" class="muted"></div></div>
<div id="labels"></div>
<div><button id="accept" class="primary">Accept <kbd>Enter</kbd>/<kbd>a</kbd></button>
<button id="edit">Edit <kbd>e</kbd></button><button id="reject">Reject <kbd>r</kbd></button>
<button id="skip">Skip <kbd>s</kbd></button></div>
<div id="editor" class="card" hidden><textarea id="edit-text"></textarea>
<label>label <select id="edit-label"></select></label>
<button id="save" class="primary">Save <kbd>Ctrl+Enter</kbd></button>
<button id="cancel">Cancel <kbd>Esc</kbd></button></div>
</section>
<section id="dialogue-view" hidden>
<div class="card"><div class="muted">Scenario</div><div id="scenario"></div></div>
<div class="card"><div class="muted">Dialogue so far</div><div id="history"></div></div>
<div class="card llm"><div class="muted">The LLM proposes (edit freely; one turn per line, starting with User: or Assistant:)</div>
<textarea id="proposal"></textarea>
<button id="continue" class="primary">Accept and continue <kbd>Ctrl+Enter</kbd></button>
<button id="finish">Finish <kbd>f</kbd></button>
<button id="d-reject">Reject <kbd>r</kbd></button><button id="d-skip">Skip <kbd>s</kbd></button></div>
</section>
<script nonce="__NONCE__">
"use strict";
const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const dialogueMode = document.body.dataset.mode === "dialogue";
let labels = [], item = null, busy = false, edited = false, proposed = "";
const bound = document.querySelector('meta[name="annotator"]').content;  // a per-annotator token
const annotator = () => bound || localStorage.getItem("synthaug.annotator") || "";

async function api(path, body) {
  const response = await fetch(path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify({annotator: annotator(), ...body})});
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
function say(text) { $("message").textContent = text || ""; }
function showProgress(p) {
  $("progress").max = Math.max(p.total, 1); $("progress").value = p.done;
  $("count").textContent = p.done + " / " + p.total;
}
function renderLabels() {
  const box = $("labels"); box.replaceChildren();
  $("edit-label").replaceChildren();
  labels.forEach((label, i) => {
    const button = document.createElement("button");
    button.textContent = (i < 9 ? (i + 1) + " " : "") + label;
    button.dataset.label = label;
    button.addEventListener("click", () => pick(label));
    box.append(button);
    const option = document.createElement("option");
    option.value = option.textContent = label;
    $("edit-label").append(option);
  });
}
function renderHistory(history) {
  $("history").replaceChildren(...history.map((m) => {
    const div = document.createElement("div"); div.className = "turn";
    const who = document.createElement("b"); who.textContent = m.role === "user" ? "User" : "Assistant";
    div.append(who, document.createTextNode(" " + m.content)); return div;
  }));
}
async function next() {
  say(""); item = null;
  const data = await api("/api/claim", {});
  labels = data.labels; showProgress(data.progress); item = data.item;
  $("empty").hidden = item !== null;
  $("label-view").hidden = dialogueMode || item === null;
  $("dialogue-view").hidden = !dialogueMode || item === null;
  $("editor").hidden = true;
  // a hidden editor keeps the focus until the browser's next rendering update: give it up
  // now, or a key pressed meanwhile would count as typing in it
  if ($("editor").contains(document.activeElement)) document.activeElement.blur();
  if (item === null) return;
  if (dialogueMode) {
    $("scenario").textContent = item.scenario; renderHistory(item.history);
    $("proposal").value = ""; edited = false;
    await propose("");
  } else {
    renderLabels();
    $("images").replaceChildren(...item.images.map((path) => {
      const img = document.createElement("img"); img.alt = path;
      img.src = "/api/image?path=" + encodeURIComponent(path); return img;
    }));
    $("text").textContent = item.text;
    $("llm-label").textContent = item.label === null ? "(none)" : item.label;
    $("confidence").textContent = typeof item.confidence === "number" ? item.confidence.toFixed(2) : "n/a";
    $("votes").textContent = item.votes ? JSON.stringify(item.votes) : "";
    $("explanation").textContent = item.explanation || "";
  }
}
async function act(path, body) {
  if (busy || item === null) return;
  busy = true;
  try { await api(path, {item: item.id, lease: item.lease, ...body}); await next(); }
  catch (error) { say(error.message); if (/leased|annotated/.test(error.message)) await next(); }
  finally { busy = false; }
}
const submit = (body) => act("/api/submit", body);
function pick(label) {
  submit(label === item.label ? {action: "accept"} : {action: "relabel", label});
}
function openEditor() {
  $("editor").hidden = false; $("edit-text").value = item.text;
  if (item.label !== null && labels.includes(item.label)) $("edit-label").value = item.label;
  $("edit-text").focus();
}
function saveEdit() {
  submit({action: "edit", text: $("edit-text").value, label: $("edit-label").value});
}
async function propose(text) {
  if (busy && text !== "") return;
  busy = true; say("the LLM is writing...");
  try {
    if (text !== "" && text !== proposed) edited = true;
    const data = await api("/api/dialogue/next",
      {item: item.id, lease: item.lease, history: item.history, text});
    item.history = data.history; renderHistory(item.history);
    proposed = data.proposal; $("proposal").value = data.proposal; say("");
    $("proposal").dataset.round = String(Number($("proposal").dataset.round || 0) + 1);
    $("proposal").focus();
  } catch (error) { say(error.message); }
  finally { busy = false; }
}
function finish() {
  const text = $("proposal").value;
  if (text !== proposed) edited = true;
  submit({action: edited ? "edit" : "accept", history: item.history, text});
}
document.addEventListener("keydown", (event) => {
  if (item === null || !$("login").hidden) return;
  const typing = event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT" || event.target.tagName === "SELECT";
  if (dialogueMode) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); propose($("proposal").value); }
    else if (typing) { if (event.key === "Escape") event.target.blur(); return; }
    else if (event.key === "f") finish();
    else if (event.key === "r") submit({action: "reject"});
    else if (event.key === "s") act("/api/skip", {});
    return;
  }
  if (!$("editor").hidden) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); saveEdit(); }
    else if (event.key === "Escape") { $("editor").hidden = true; }
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (/^[1-9]$/.test(event.key) && Number(event.key) <= labels.length) pick(labels[Number(event.key) - 1]);
  else if (event.key === "Enter" || event.key === "a") { event.preventDefault(); submit({action: "accept"}); }
  else if (event.key === "e") { event.preventDefault(); openEditor(); }
  else if (event.key === "r") submit({action: "reject"});
  else if (event.key === "s") act("/api/skip", {});
});
$("accept").addEventListener("click", () => submit({action: "accept"}));
$("edit").addEventListener("click", openEditor);
$("save").addEventListener("click", saveEdit);
$("cancel").addEventListener("click", () => { $("editor").hidden = true; });
$("reject").addEventListener("click", () => submit({action: "reject"}));
$("skip").addEventListener("click", () => act("/api/skip", {}));
$("continue").addEventListener("click", () => propose($("proposal").value));
$("finish").addEventListener("click", finish);
$("d-reject").addEventListener("click", () => submit({action: "reject"}));
$("d-skip").addEventListener("click", () => act("/api/skip", {}));
function login() {
  $("login").hidden = false; $("label-view").hidden = $("dialogue-view").hidden = true;
  $("annotator").value = annotator(); $("annotator").focus();
}
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("synthaug.annotator", $("annotator").value.trim());
  $("login").hidden = true; $("who").textContent = annotator();
  next().catch((error) => say(error.message));
});
$("change-who").addEventListener("click", login);
$("change-who").hidden = Boolean(bound);
if (annotator()) { $("who").textContent = annotator(); next().catch((error) => say(error.message)); }
else login();
</script></body></html>
"""


def render_page(nonce: str, csrf: str, dialogue: bool, annotator: str = "") -> str:
    """The page with this response's CSP ``nonce``, the session's ``csrf`` token and, for a
    per-annotator token, the ``annotator`` it belongs to (then the page never asks)."""
    return (
        PAGE.replace("__NONCE__", nonce)
        .replace("__CSRF__", html.escape(csrf))
        .replace("__ANNOTATOR__", html.escape(annotator))
        .replace("__MODE__", "dialogue" if dialogue else "label")
    )
