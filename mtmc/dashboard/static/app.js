// Polls /api/state every second and updates the page in place; no framework, no build step.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
const tiles = new Map(); // camera id -> {root, img, seq, ...elements}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function num(v, digits = 0) {
  return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function seconds(v) {
  if (v === null || v === undefined) return "–";
  return v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(2)} s`;
}

function tile(camera) {
  let t = tiles.get(camera.id);
  if (t) return t;
  const root = el("article", "tile");
  root.dataset.camera = camera.id;
  const head = el("div", "head");
  const name = el("span", "name", camera.id);
  const meta = el("span", "meta");
  const badge = el("span", "badge");
  head.append(name, meta, badge);
  const view = el("div", "view");
  const img = el("img");
  img.alt = `camera ${camera.id}`;
  const empty = el("div", "empty", "waiting for a frame…");
  view.append(img, empty);
  const foot = el("div", "foot");
  root.append(head, view, foot);
  $("cameras").append(root);
  t = { root, img, empty, meta, badge, foot, seq: null };
  tiles.set(camera.id, t);
  return t;
}

function renderCamera(c) {
  const t = tile(c);
  const starting = !c.stale && c.heartbeat_age_s === null;
  t.root.classList.toggle("stale", c.stale);
  t.root.classList.toggle("starting", starting);
  t.meta.textContent = c.frame === null ? "no frame yet" : `frame ${num(c.frame)} · t ${num(c.time_s, 1)} s`;
  if (c.stale) {
    t.badge.textContent = c.heartbeat_age_s === null ? "NO HEARTBEAT" : `STALE · ${Math.round(c.heartbeat_age_s)} s`;
  } else {
    t.badge.textContent = starting ? "STARTING" : "LIVE";
  }
  const foot = [
    ["fps", num(c.fps, 1)],
    ["outbox", num(c.outbox)],
    ["lag", seconds(c.lag_s)],
    ["boxes", c.frame === null ? "–" : `${c.boxes} (${c.assigned} matched)`],
  ];
  t.foot.replaceChildren(...foot.map(([k, v]) => {
    const span = el("span", null, `${k} `);
    span.append(el("b", null, v));
    return span;
  }));
  if (c.seq !== null && c.seq !== t.seq) {
    t.seq = c.seq;
    t.img.src = `/api/frame/${encodeURIComponent(c.id)}.jpg?seq=${c.seq}`;
  }
  t.empty.style.display = c.seq === null ? "" : "none";
}

function renderIdentities(list, listed) {
  $("ident-count").textContent = list.length < listed ? `(latest ${list.length} of ${listed})` : `(${listed})`;
  $("identities").replaceChildren(...list.map((ident) => {
    const row = el("tr");
    row.dataset.gid = ident.id;
    const id = el("td");
    const chip = el("span", "gid", `#${ident.id}`);
    chip.style.background = ident.color;
    chip.style.color = ident.ink;
    id.append(chip);
    const path = el("td", "path");
    ident.cameras.forEach((cam, i) => {
      if (i) path.append(el("span", "arrow", "→"));
      path.append(document.createTextNode(cam));
    });
    const when = el("td", "when", `${num(ident.last_seen_s, 1)} s · ${ident.last_camera}`);
    row.append(id, path, when);
    return row;
  }));
}

function counts(list, reasons) {
  list.replaceChildren(...(reasons.length
    ? reasons.map(([reason, n]) => {
        const li = el("li", null, reason);
        li.append(el("b", null, num(n)));
        return li;
      })
    : [el("li", "none", "none")]));
}

function renderCounters(s) {
  const c = s.counters;
  $("rate").textContent = num(s.throughput.messages_per_s, 1);
  $("received").textContent = num(c.received);
  $("latency").textContent = `${seconds(c.latency_p50_s)} / ${seconds(c.latency_p99_s)}`;
  $("idents").textContent = `${num(c.identities_active)} / ${num(c.identities_total)}`;
  $("revisions").textContent = num(c.revisions);
  const reasons = Object.entries(c.dropped).sort((a, b) => b[1] - a[1]);
  $("dropped-total").textContent = num(reasons.reduce((sum, [, n]) => sum + n, 0));
  counts($("dropped"), reasons);
  // Heartbeats and frames the dashboard ignored: unknown camera, unreadable or oversized preview.
  counts($("refused"), Object.entries(s.refused || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]));
  const h = s.throughput.history.slice(-60);
  const top = Math.max(1, ...h);
  $("spark").firstElementChild.setAttribute("points",
    h.map((v, i) => `${(i / Math.max(1, h.length - 1)) * 120},${27 - (v / top) * 25}`).join(" "));
}

function render(s) {
  s.cameras.forEach(renderCamera);
  renderIdentities(s.identities, s.identities_listed);
  renderCounters(s);
  const stale = s.cameras.filter((c) => c.stale).length;
  const status = $("status");
  status.className = "status ok";
  status.textContent = `${s.cameras.length} cameras${stale ? `, ${stale} stale` : ""} · up ${Math.round(s.uptime_s)} s`;
}

async function poll() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (err) {
    const status = $("status");
    status.className = "status bad";
    status.textContent = `matcher unreachable (${err.message})`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
