"""The web preview's one HTML page (inline script, allowed by its CSP hash).

The script reads the token from the page's own ``?token=`` and passes it on to
``stream.mjpg`` and ``results.json``; everything that came from the model
(labels) is put in the page with ``textContent``, never as HTML.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["CSP", "PAGE"]

SCRIPT = r"""
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const q = token ? "?token=" + encodeURIComponent(token) : "";
  const img = document.getElementById("stream");
  const $ = (id) => document.getElementById(id);
  img.src = "stream.mjpg" + q;
  const retry = () => { img.src = "stream.mjpg" + q + (q ? "&" : "?") + "r=" + Date.now(); };
  img.onerror = () => setTimeout(retry, 2000);
  const fmt = (v, d) => (typeof v === "number" ? v.toFixed(d) : "-");
  function rows(list, result) {
    const ul = $("results");
    ul.replaceChildren();
    for (const item of list) {
      const li = document.createElement("li");
      const name = item.label !== null && item.label !== undefined ? item.label : String(item.id);
      li.textContent = name + " " + fmt(item.score, 2) + (item.box ? "  [" + item.box.join(", ") + "]" : "");
      ul.appendChild(li);
    }
    if (!list.length) {
      const li = document.createElement("li");
      li.textContent = result && result.task === "raw" ? "raw tensors" : "nothing";
      ul.appendChild(li);
    }
  }
  function render(d) {
    const r = d.result, s = d.stats;
    if (r) {
      $("frame").textContent = String(r.frame);
      $("source").textContent = r.source;
      $("task").textContent = r.task;
      $("latency").textContent = fmt(r.latency_ms.total, 1);
      rows(r.classes || r.detections || [], r);
    }
    if (s) {
      $("fps").textContent = fmt(s.fps, 1);
      $("p50").textContent = fmt(s.latency_p50, 1);
      $("p95").textContent = fmt(s.latency_p95, 1);
      $("age").textContent = fmt(s.age_p50, 1);
      $("inferred").textContent = String(s.inferred);
      $("dropped").textContent = String(s.dropped);
      $("bad").textContent = String(s.bad_frames);
      const temp = s.thermal && s.thermal.temp_c;
      $("temp").textContent = typeof temp === "number" ? temp.toFixed(1) + " °C" : "-";
    }
    const ru = $("rules");
    ru.replaceChildren();
    for (const [name, e] of Object.entries(d.rules || {})) {
      const li = document.createElement("li");
      li.textContent = name + ": " + e.state;
      li.className = e.state === "on" ? "on" : "off";
      ru.appendChild(li);
    }
    const ev = $("events");
    ev.replaceChildren();
    for (const e of (d.events || []).slice().reverse()) {
      const li = document.createElement("li");
      const when = new Date(e.ts * 1000).toLocaleTimeString();
      li.textContent = when + " " + e.event + (e.message ? " — " + e.message : "");
      ev.appendChild(li);
    }
  }
  async function poll() {
    try {
      const resp = await fetch("results.json" + q, { cache: "no-store" });
      if (resp.ok) { render(await resp.json()); $("state").textContent = "live"; }
      else { $("state").textContent = "HTTP " + resp.status; }
    } catch (err) {
      $("state").textContent = "offline";
    }
    setTimeout(poll, 500);
  }
  poll();
})();
"""

_SHA = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")

CSP = ("default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
       f"script-src 'sha256-{_SHA}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>edgekit live</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0; background: #111; color: #eee; }}
  header {{ padding: .5rem 1rem; background: #222; display: flex; gap: 1rem; align-items: baseline; }}
  main {{ display: flex; flex-wrap: wrap; gap: 1rem; padding: 1rem; }}
  #stream {{ flex: 1 1 480px; max-width: 960px; min-width: 160px; height: auto; background: #000; }}
  table {{ border-collapse: collapse; }}
  td {{ padding: .1rem .6rem; }} td:first-child {{ color: #999; }}
  #state {{ color: #7c7; }}
  #rules .on {{ color: #f77; font-weight: bold; }} #rules .off {{ color: #999; }}
</style>
</head>
<body>
<header><strong>edgekit</strong> <span id="source">-</span> <span id="state">connecting…</span></header>
<main>
  <img id="stream" alt="live annotated stream">
  <section>
    <table>
      <tr><td>frame</td><td id="frame">-</td></tr>
      <tr><td>task</td><td id="task">-</td></tr>
      <tr><td>FPS</td><td id="fps">-</td></tr>
      <tr><td>latency (ms)</td><td id="latency">-</td></tr>
      <tr><td>p50 / p95 (ms)</td><td><span id="p50">-</span> / <span id="p95">-</span></td></tr>
      <tr><td>frame age p50 (ms)</td><td id="age">-</td></tr>
      <tr><td>inferred</td><td id="inferred">-</td></tr>
      <tr><td>dropped</td><td id="dropped">-</td></tr>
      <tr><td>bad frames</td><td id="bad">-</td></tr>
      <tr><td>temperature</td><td id="temp">-</td></tr>
    </table>
    <h3>results</h3><ul id="results"></ul>
    <h3>rules</h3><ul id="rules"></ul>
    <h3>events</h3><ul id="events"></ul>
  </section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
