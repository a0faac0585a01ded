// The admin page (see admin_route.h): one self-contained HTML document, no
// external script, style or font. Its script polls /tether/admin/status
// every 2 s, fills the tables and draws the request rate of the last five
// minutes on a canvas (sessions recovered after a worker died, and hibernated
// ones once the workers report sessions.hibernated). Its actions carry the
// page's CSRF token (a meta tag).
#include "ops/admin_route.h"

namespace tether {

namespace {

constexpr const char kTokenMark[] = "@CSRF@";

const char* page() {
  return R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tether admin</title>
<meta name="tether-csrf" content="@CSRF@">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .5em} h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff} th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left} .figs span{display:inline-block;margin-right:1.5em}
.figs b{font-size:1.2em} canvas{background:#fff;border:1px solid #ddd} #msg{color:#a33;min-height:1.2em}
button{cursor:pointer} input{width:12em}
</style></head><body>
<h1>tether &mdash; host <span id="host">?</span></h1>
<div class="figs">
<span>workers <b id="worker-count">-</b></span>
<span>requests <b id="total-requests">-</b></span>
<span>sessions live <b id="total-sessions">-</b></span>
<span>created <b id="total-created">-</b></span>
<span>recovered <b id="total-recovered">-</b></span>
<span id="hibernated-fig" hidden>hibernated <b id="total-hibernated">-</b></span>
<span>forwarded <b id="total-forwarded">-</b></span>
<span>slow <b id="total-slow">-</b></span>
<span>rate <b id="rate-now">-</b> req/s</span>
</div>
<h2>Request rate, last 5 minutes</h2>
<canvas id="rate" width="640" height="160"></canvas>
<h2>Workers</h2>
<table><thead><tr><th>worker</th><th>pid</th><th>accepting</th><th>requests</th><th>in flight</th>
<th>sessions</th><th>created</th><th>recovered</th><th>ended</th><th>fwd out</th><th>fwd in</th><th>redis</th><th></th></tr></thead>
<tbody id="workers"></tbody></table>
<h2>Cache invalidation (every worker)</h2>
<form id="inv"><input name="regex" placeholder="regex, e.g. ^GET /news"> <input name="group" placeholder="group">
<button type="submit">invalidate</button></form>
<p id="msg"></p><p><small>updated <span id="updated">never</span></small></p>
<script>
"use strict";
const base = location.pathname.replace(/\/+$/, "");
const points = [];  // [time ms, total requests]
const csrf = document.querySelector('meta[name="tether-csrf"]').content;  // the actions' token
function num(o, a, b) { return o && o[a] && typeof o[a][b] === "number" ? o[a][b] : 0; }
function ended(w) { let n = 0; const e = (w.sessions || {}).ended || {}; for (const k in e) n += e[k]; return n; }
function cell(tr, cls, text) { const td = document.createElement("td"); td.className = cls; td.textContent = text; tr.appendChild(td); }
function post(path, body) {
  return fetch(base + path, {method: "POST", headers: {"X-Tether-CSRF": csrf,
    "Content-Type": "application/x-www-form-urlencoded"}, body: new URLSearchParams(body)})
    .then(r => r.text().then(t => { document.getElementById("msg").textContent = r.status + ": " + t; }));
}
function draw() {
  const c = document.getElementById("rate"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const now = Date.now(), rates = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i][0] - points[i - 1][0]) / 1000;
    if (dt > 0) rates.push([points[i][0], Math.max(0, points[i][1] - points[i - 1][1]) / dt]);
  }
  const max = Math.max(1, ...rates.map(r => r[1]));
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(0, c.height - 1); g.lineTo(c.width, c.height - 1); g.stroke();
  g.fillStyle = "#666"; g.fillText(max.toFixed(1) + " req/s", 4, 12);
  g.strokeStyle = "#2a6"; g.lineWidth = 2; g.beginPath();
  rates.forEach((r, i) => {
    const x = c.width - (now - r[0]) / 300000 * c.width, y = c.height - 4 - r[1] / max * (c.height - 20);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  document.getElementById("rate-now").textContent = rates.length ? rates[rates.length - 1][1].toFixed(1) : "-";
}
function show(s) {
  const t = s.total || {};
  document.getElementById("host").textContent = s.host;
  document.getElementById("worker-count").textContent = s.workers.length;
  document.getElementById("total-requests").textContent = num(t, "requests", "accepted");
  document.getElementById("total-sessions").textContent = num(t, "sessions", "live");
  document.getElementById("total-created").textContent = num(t, "sessions", "created");
  document.getElementById("total-recovered").textContent = num(t, "sessions", "recovered");
  // Hibernated sessions: shown once the workers report them (sessions.hibernated).
  const hib = typeof (t.sessions || {}).hibernated === "number";
  document.getElementById("hibernated-fig").hidden = !hib;
  document.getElementById("total-hibernated").textContent = hib ? t.sessions.hibernated : "-";
  document.getElementById("total-forwarded").textContent = num(t, "forward", "out");
  document.getElementById("total-slow").textContent = num(t, "requests", "slow");
  const body = document.getElementById("workers");
  body.textContent = "";
  for (const w of s.workers) {
    const name = w.host + "-" + w.worker, tr = document.createElement("tr");
    tr.dataset.worker = name;
    cell(tr, "name", name); cell(tr, "pid", w.pid); cell(tr, "accepting", w.accepting === false ? "no" : "yes");
    cell(tr, "requests", num(w, "requests", "accepted")); cell(tr, "in-flight", num(w, "requests", "in_flight"));
    cell(tr, "sessions", num(w, "sessions", "live")); cell(tr, "created", num(w, "sessions", "created"));
    cell(tr, "recovered", num(w, "sessions", "recovered")); cell(tr, "ended", ended(w)); cell(tr, "fwd-out", num(w, "forward", "out")); cell(tr, "fwd-in", num(w, "forward", "in"));
    cell(tr, "redis", w.redis ? (w.redis.up ? "up" : "down") : "-");
    const td = document.createElement("td"), b = document.createElement("button");
    b.textContent = "drain"; b.onclick = () => { if (confirm("Drain " + name + "?")) post("/drain", {worker: name}); };
    td.appendChild(b); tr.appendChild(td); body.appendChild(tr);
  }
  points.push([Date.now(), num(t, "requests", "accepted")]);
  while (points.length && Date.now() - points[0][0] > 300000) points.shift();
  draw();
  document.getElementById("updated").textContent = new Date().toISOString();
}
function poll() {
  fetch(base + "/status", {cache: "no-store"}).then(r => r.ok ? r.json() : Promise.reject(r.status))
    .then(show, e => { document.getElementById("msg").textContent = "status: " + e; });
}
document.getElementById("inv").onsubmit = ev => {
  ev.preventDefault(); const f = new FormData(ev.target);
  post("/invalidate", {regex: f.get("regex"), group: f.get("group")});
};
poll(); setInterval(poll, 2000);
</script></body></html>
)html";
}

}  // namespace

std::string admin_page_html(const std::string& csrf_token) {
  std::string html = page();
  html.replace(html.find(kTokenMark), sizeof kTokenMark - 1, csrf_token);  // base64url: nothing to escape
  return html;
}

}  // namespace tether
