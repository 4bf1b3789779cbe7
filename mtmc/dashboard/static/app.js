// One page, four views by path: / (live: polls /api/state every second), /identity/N (a journey),
// /search (by id, attributes or picture), /graph (cameras and the links between them).
// No framework, no build step, nothing fetched from elsewhere.
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

// "N (M matched, P provisional, K pending)": decided, answered provisionally (an id or new), neither
function boxCounts(c) {
  const guessed = c.provisional.filter((g) => g !== null).length;
  return `${c.boxes} (${c.assigned} matched, ${guessed} provisional, ${c.boxes - c.assigned - guessed} pending)`;
}

function renderCamera(c) {
  const t = tile(c);
  const starting = !c.stale && c.heartbeat_age_s === null;
  t.root.classList.toggle("stale", c.stale);
  t.root.classList.toggle("starting", starting);
  t.meta.textContent = c.frame === null ? "no frame yet" : `frame ${num(c.frame)} · t ${clock(c.time_s)}`;
  t.meta.title = c.wall ? `run time ${clock(c.time_s)}; received ${wallTime(c.wall)}` : "";
  if (c.stale) {
    t.badge.textContent = c.heartbeat_age_s === null ? "NO HEARTBEAT" : `STALE · ${Math.round(c.heartbeat_age_s)} s`;
  } else {
    t.badge.textContent = starting ? "STARTING" : "LIVE";
  }
  const foot = [
    ["fps", num(c.fps, 1)],
    ["outbox", num(c.outbox)],
    ["lag", seconds(c.lag_s)],
    ["boxes", c.frame === null ? "–" : boxCounts(c)],
  ];
  t.foot.replaceChildren(...foot.map(([k, v]) => {
    const span = el("span", null, `${k} `);
    span.append(el("b", null, v));
    return span;
  }));
  // the frame is drawn again when a new preview comes and when the matcher decides one of its boxes
  // or changes its provisional answer for one (p17: provisionally #17, n: a new identity)
  const mark = (g, i) => (g !== null ? g : c.provisional[i] === null ? "" : c.provisional[i] === "new" ? "n" : `p${c.provisional[i]}`);
  const drawn = c.seq === null ? null : `${c.seq}-${c.labels.map(mark).join(".")}`;
  if (drawn !== null && drawn !== t.seq) {
    t.seq = drawn;
    t.img.src = `/api/frame/${encodeURIComponent(c.id)}.jpg?seq=${drawn}`;
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
    const link = el("a");
    link.href = `/identity/${ident.id}`;
    link.append(chip);
    id.append(link);
    const path = el("td", "path");
    ident.cameras.forEach((cam, i) => {
      if (i) path.append(el("span", "arrow", "→"));
      path.append(document.createTextNode(cam));
    });
    const when = el("td", "when", clock(ident.last_seen_s));
    when.append(el("small", null, ident.last_camera));
    when.title = `last seen at run time ${clock(ident.last_seen_s)} on ${ident.last_camera}; decided ${wallTime(ident.last_seen_wall)}`;
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
    const state = await response.json();
    if (state.live === false) return; // a finished run's store: nothing live to poll
    render(state);
  } catch (err) {
    const status = $("status");
    status.className = "status bad";
    status.textContent = `matcher unreachable (${err.message})`;
  }
  setTimeout(poll, POLL_MS);
}

// ---- shared ----------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const NODE_R = 46; // a camera's circle in the graph
let INFO = { live: true, store: null, cameras: [], attributes: {}, picture_search: false };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chip(id, color, ink) {
  const a = el("a", "gid", `#${id}`);
  a.href = `/identity/${id}`;
  a.style.background = color;
  a.style.color = ink;
  return a;
}

function clock(s) {
  if (s === null || s === undefined) return "–";
  const sign = s < 0 ? "-" : "";
  s = Math.abs(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = sec.toFixed(1).padStart(4, "0");
  return h ? `${sign}${h}:${mm}:${ss}` : `${sign}${m}:${ss}`;
}

function wallTime(unix) {
  // a wall-clock instant (Unix seconds), for hover text: the page's own times are the run's data time
  return unix ? new Date(unix * 1000).toLocaleString("en-GB", { hour12: false }) : "–";
}

function span(s) {
  if (s === null || s === undefined) return "–";
  return Math.abs(s) < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

async function getJSON(url, options) {
  const response = await fetch(url, { cache: "no-store", ...(options || {}) });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error((body && body.error) || `HTTP ${response.status}`);
  return body;
}

function problem(container, message) {
  container.replaceChildren(el("p", "error", message));
}

function thumb(url, alt) {
  const img = el("img", "thumb");
  img.src = url;
  img.alt = alt;
  return img;
}

function sightingLine(s) {
  const line = el("span", "sighting-line");
  line.append(el("b", null, s.camera), document.createTextNode(` track ${s.track} · ${clock(s.first_s)}–${clock(s.last_s)}`));
  const attrs = [s.colour, s.type].filter(Boolean).join(" ");
  if (attrs) line.append(el("span", "attrs", attrs));
  return line;
}

// ---- identity: the journey timeline, its footage and corrections ---------------------------------

async function correct(action, args) {
  // one correction (split, merge, flag, unflag, undo) through the token-protected POST /api/corrections
  return getJSON("/api/corrections", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, ...args }) });
}

function button(text, cls, onclick) {
  const b = el("button", cls, text);
  b.type = "button";
  b.addEventListener("click", onclick);
  return b;
}

async function act(action, args, next) {
  // apply a correction, say what it did, and show the identity it leaves (next(answer): its id)
  const note = $("correction-note");
  try {
    const answer = await correct(action, args);
    const id = next(answer);
    note.className = "note done";
    note.textContent = `${action} done`;
    if (id !== undefined && id !== CURRENT_ID) history.pushState(null, "", `/identity/${id}`);
    await showIdentity(id === undefined ? CURRENT_ID : id, `${action} done${answer.global_id !== undefined && action === "split" ? `: the sightings from there on are now #${answer.global_id}` : ""}`);
  } catch (err) {
    note.className = "error";
    note.textContent = `${action} refused: ${err.message}`;
  }
}

function clipFigure(s) {
  // the sighting's clip, made on request: a button until asked for
  const f = el("figure", "clip");
  if (!s.clip_from) return f;
  const play = button(`▶ clip (from the ${s.clip_from === "annotated" ? "annotated video" : "source video, box drawn"})`, "play", () => {
    const video = el("video", "clip-video");
    video.muted = true;
    video.controls = true;
    video.autoplay = true;
    video.loop = true;
    video.playsInline = true;
    video.src = s.clip;
    video.addEventListener("error", () => f.replaceChildren(el("figcaption", "error", "the clip could not be made")));
    f.replaceChildren(video, el("figcaption", null, `a few seconds around the sighting, ${s.clip_from === "annotated" ? "from OUT/videos" : "from the source"}`));
  });
  f.append(play);
  return f;
}

function correctionsTable(answer) {
  const rows = answer.corrections.slice().reverse().map((c) => {
    const row = el("tr");
    row.dataset.correction = c.id;
    const a = c.args;
    const what = {
      split: () => `split #${a.global_id} at ${a.camera_name || `camera ${a.camera}`} track ${a.track} → #${a.new_id}`,
      merge: () => `merged #${a.other} into #${a.keep}`,
      flag: () => `flagged #${a.global_id}${a.note ? `: ${a.note}` : ""}`,
      unflag: () => `unflagged #${a.global_id}`,
    }[c.kind];
    const when = el("td", "when", wallTime(c.time));
    when.title = "when the correction was made (wall clock)";
    const undo = el("td");
    undo.append(button("undo", "undo", () => act("undo", { id: c.id }, () => undefined)));
    row.append(el("td", "num", `${c.id}`), el("td", null, what ? what() : c.kind), when, undo);
    return row;
  });
  return rows.length ? rows : [(() => { const r = el("tr"); const c = el("td", "none", "no corrections yet"); c.colSpan = 4; r.append(c); return r; })()];
}

function correctionTools(j, flagged) {
  const tools = el("div", "tools");
  const note = el("input");
  note.id = "flag-note";
  note.placeholder = "what looks wrong (optional)";
  note.maxLength = 500;
  if (flagged !== undefined) {
    const mark = el("span", "flag", `⚑ flagged as wrong${flagged ? `: ${flagged}` : ""}`);
    tools.append(mark, button("unflag", "unflag", () => act("unflag", { global_id: j.global_id }, () => j.global_id)));
  } else {
    tools.append(note, button("flag as wrong", "flag-go", () => act("flag", { global_id: j.global_id, note: note.value }, () => j.global_id)));
  }
  const other = el("input");
  other.id = "merge-other";
  other.inputMode = "numeric";
  other.placeholder = "identity #";
  tools.append(el("span", "sep", "merge"), other,
    button("into this one", "merge-go", () => act("merge", { keep: j.global_id, other: other.value.trim() }, (a) => a.global_id)));
  return tools;
}

let CURRENT_ID = null;

async function showIdentity(id, said) {
  const head = $("journey-head"), list = $("journey");
  CURRENT_ID = id;
  document.title = `MTMC · identity #${id}`;
  let j, fixes;
  try {
    [j, fixes] = await Promise.all([getJSON(`/api/identity/${id}`), getJSON("/api/corrections").catch(() => null)]);
  } catch (err) {
    problem(head, err.message);
    list.replaceChildren();
    return;
  }
  const title = el("h2", "journey-title");
  title.append(chip(j.global_id, j.color, j.ink),
    document.createTextNode(` ${j.sightings.length} sightings on ${j.camera_count} camera${j.camera_count === 1 ? "" : "s"}`));
  const path = el("div", "path");
  j.cameras.forEach((cam, i) => {
    if (i) path.append(el("span", "arrow", "→"));
    path.append(document.createTextNode(cam));
  });
  const when = el("div", "note", `first seen ${clock(j.first_s)} · last seen ${clock(j.last_s)} · over ${span(j.last_s - j.first_s)} (times on the run's clock) · ${j.store}`);
  const flagged = fixes ? fixes.flagged[String(j.global_id)] : undefined;
  const status = el("div", said ? "note done" : "note", said || "");
  status.id = "correction-note";
  head.replaceChildren(title, path, when, ...(fixes ? [correctionTools(j, flagged)] : []), status);
  head.classList.toggle("flagged", flagged !== undefined);
  list.replaceChildren(...j.sightings.flatMap((s, i) => {
    const items = [];
    if (i) {
      const hop = el("li", "hop");
      hop.dataset.travel = s.travel_s;
      const gap = s.travel_s < 0 ? `overlap ${span(-s.travel_s)} (seen on both at once)` : `travel ${span(s.travel_s)}`;
      hop.append(el("span", "arrow", "↓"), document.createTextNode(` ${j.sightings[i - 1].camera} → ${s.camera}: ${gap}`));
      items.push(hop);
    }
    const card = el("li", "sighting");
    card.dataset.camera = s.camera;
    card.dataset.track = s.track;
    const text = el("div", "sighting-text");
    text.append(el("div", "cam", s.camera),
      el("div", "when", `${clock(s.first_s)} – ${clock(s.last_s)} (${span(s.last_s - s.first_s)})`),
      el("div", "note", `track ${s.track} · frames ${s.first_frame}–${s.last_frame}`));
    const attrs = [s.colour, s.type].filter(Boolean).join(" ");
    if (attrs) text.append(el("div", "attrs", attrs));
    if (i && fixes) {
      text.append(button("split here", "split", () => act("split", { camera: s.camera_number, track: s.track }, () => j.global_id)));
    }
    const pics = el("div", "pictures");
    const t = el("figure", "thumbnail");
    t.append(thumb(s.thumbnail, `thumbnail of ${s.camera} track ${s.track}`), el("figcaption", null, "thumbnail"));
    pics.append(t);
    const shown = s.frame_shown || { kind: "thumbnail" };
    const f = el("figure", `frame ${shown.kind}`);
    if (shown.kind === "frame" || shown.kind === "video") {
      const img = thumb(s.frame, `frame of ${s.camera} track ${s.track}`);
      img.className = "frame-img";
      f.append(img, el("figcaption", null, shown.kind === "frame" ? `frame ${shown.frame} (a kept preview), its box drawn`
        : shown.from === "annotated" ? "its middle frame, from the annotated video" : "its middle frame, from the source, its box drawn"));
    } else {
      f.append(el("figcaption", "not-kept", `Frame not shown: ${shown.why || "the frame is not kept"}; the thumbnail is what is stored.`));
    }
    pics.append(f, clipFigure(s));
    card.append(text, pics);
    items.push(card);
    return items;
  }));
  if (fixes) {
    const panel = $("corrections");
    panel.hidden = false;
    $("corrections-list").replaceChildren(...correctionsTable(fixes));
  }
}

// ---- search ----------------------------------------------------------------------------------------

function fillSelect(select, values) {
  select.append(...values.map((v) => { const o = el("option", null, v); o.value = v; return o; }));
}

function renderFound(found) {
  const box = $("results");
  $("results-title").textContent = `Results: ${found.identities.length} identities, ${found.sightings} sightings${found.truncated ? " (the first ones only)" : ""}`;
  if (!found.identities.length) return problem(box, "no sightings match");
  box.replaceChildren(...found.identities.map((ident) => {
    const row = el("div", "result");
    row.dataset.gid = ident.global_id;
    const shots = el("div", "shots");
    ident.sightings.slice(0, 6).forEach((s) => {
      const item = el("div", "shot");
      const open = el("a");
      open.href = `/identity/${ident.global_id}`;
      open.title = "its journey: each sighting's frame and clip";
      open.append(thumb(s.thumbnail, `${s.camera} track ${s.track}`));
      item.append(open, sightingLine(s));
      shots.append(item);
    });
    row.append(chip(ident.global_id, ident.color, ident.ink), shots);
    return row;
  }));
}

function renderNearest(answer, file) {
  const box = $("results");
  const pic = answer.picture;
  const query = $("picture-query");
  if (query.dataset.url) URL.revokeObjectURL(query.dataset.url);
  query.dataset.url = URL.createObjectURL(file);
  query.replaceChildren(thumb(query.dataset.url, `the picture searched with: ${file.name}`), el("figcaption", null, `searched with ${file.name}`));
  query.hidden = false;
  $("results-title").textContent = `Nearest identities to the picture (${pic.width}×${pic.height} px), by appearance`;
  if (!answer.results.length) return problem(box, "the store has no identities with appearance features");
  box.replaceChildren(...answer.results.map((r) => {
    const row = el("div", "result nearest");
    row.dataset.gid = r.global_id;
    row.dataset.rank = r.rank;
    const text = el("div", "nearest-text");
    text.append(el("b", "rank", `${r.rank}.`), chip(r.global_id, r.color, r.ink),
      el("span", "distance", `distance ${r.distance.toFixed(3)}`),
      el("span", "path", r.cameras.join(" → ")), el("span", "note", `first seen ${clock(r.first_s)}`));
    row.append(text);
    if (r.thumbnail) row.append(thumb(r.thumbnail, `identity ${r.global_id}`));
    return row;
  }));
}

async function searchAttributes(form) {
  $("picture-query").hidden = true;
  const query = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) query.set(k, String(v).trim());
  history.replaceState(null, "", `/search?${query}`);
  try {
    renderFound(await getJSON(`/api/search?${query}`));
  } catch (err) {
    problem($("results"), err.message);
  }
}

async function searchPicture(file) {
  const note = $("picture-note");
  if (!file) { note.textContent = "choose a JPEG or PNG first"; return; }
  if (file.size > INFO.max_upload_bytes) {
    note.textContent = `${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MiB, over the ${INFO.max_upload_bytes / 2 ** 20} MiB limit`;
    return;
  }
  note.textContent = `searching with ${file.name}…`;
  try {
    const answer = await getJSON("/api/search/image", { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
    note.textContent = `searched with ${file.name}`;
    renderNearest(answer, file);
  } catch (err) {
    note.textContent = "";
    problem($("results"), `${file.name}: ${err.message}`);
  }
}

function setupSearch() {
  fillSelect($("f-colour"), INFO.attributes.colour || []);
  fillSelect($("f-type"), INFO.attributes.type || []);
  // a filter the store cannot match (the run stored no colours, no types) is not offered
  const stored = INFO.attributes_stored;
  const missing = stored ? ["colour", "type"].filter((name) => !stored[name]) : [];
  for (const name of missing) $(`f-${name}`).closest("label").hidden = true;
  if (missing.length) $("attributes-note").textContent = `no ${missing.join(" or ")} filter: this run stored none (the attribute stage did not run)`;
  fillSelect($("f-camera"), INFO.cameras || []);
  const form = $("search-attributes");
  const params = new URLSearchParams(location.search);
  for (const name of ["colour", "type", "camera", "since", "until"]) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); searchAttributes(form); });
  $("search-picture").addEventListener("submit", (e) => { e.preventDefault(); searchPicture($("picture").files[0]); });
  $("picture").addEventListener("change", () => searchPicture($("picture").files[0]));
  if (!INFO.picture_search) {
    $("picture").disabled = $("picture-go").disabled = true;
    $("picture-note").textContent = INFO.picture_search_missing || "search by picture is not available";
  }
  if ([...params.keys()].some((k) => ["colour", "type", "camera", "since", "until"].includes(k))) searchAttributes(form);
}

// ---- the camera graph ----------------------------------------------------------------------------

function histogramSVG(h, width = 160, height = 34) {
  const box = svg("svg", { class: "hist", viewBox: `0 0 ${width} ${height + 12}`, width, height: height + 12 });
  if (!h) return box;
  const top = Math.max(1, ...h.counts), bw = width / h.counts.length;
  h.counts.forEach((c, i) => {
    const bh = (c / top) * height;
    const bar = svg("rect", { x: i * bw + 1, y: height - bh, width: Math.max(1, bw - 2), height: bh, class: "bar" });
    bar.append(svg("title", {}, `${h.edges[i]}–${h.edges[i + 1]} s: ${c}`));
    box.append(bar);
  });
  box.append(svg("text", { x: 0, y: height + 11, class: "axis" }, `${h.edges[0]} s`),
    svg("text", { x: width, y: height + 11, class: "axis end" }, `${h.edges[h.edges.length - 1]} s`));
  return box;
}

function spread(mean, std) {
  // a learnt travel time: "12.0 ± 1.6 s" (minutes past a minute)
  if (mean === null || mean === undefined) return null;
  const minutes = Math.abs(mean) >= 60, k = minutes ? 60 : 1;
  return `${(mean / k).toFixed(1)}${std === null || std === undefined ? "" : ` ± ${(std / k).toFixed(1)}`} ${minutes ? "min" : "s"}`;
}

function learntText(l) {
  // what the matcher learnt of a link or an overlap, in a few words (null: nothing)
  const k = l.learnt;
  if (!k) return null;
  if (l.kind === "overlap") return `learnt: ${k.observations ?? "?"} confident`;
  const time = spread(k.mean_s, k.std_s) || `${span(k.min_s)}–${span(k.max_s)}`;
  return `learnt: ${time} (${k.observations ?? "?"})`;
}

function unclutter(labelled, centres) {
  // slide a label along its edge, a few steps either way, until it covers no other label and no
  // camera (the edges with identities placed first); left where it is when no step helps
  const box = (texts) => texts.map((t) => t.getBBox()).reduce((u, b) => ({
    x0: Math.min(u.x0, b.x - 3), y0: Math.min(u.y0, b.y - 1), x1: Math.max(u.x1, b.x + b.width + 3), y1: Math.max(u.y1, b.y + b.height + 1),
  }), { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity });
  const hits = (u, v) => u.x0 < v.x1 && v.x0 < u.x1 && u.y0 < v.y1 && v.y0 < u.y1;
  const onNode = (u) => centres.some((c) => Math.max(u.x0 - c.x, 0, c.x - u.x1) ** 2 + Math.max(u.y0 - c.y, 0, c.y - u.y1) ** 2 < (NODE_R + 2) ** 2);
  const placed = [];
  for (const item of [...labelled.filter((i) => i.heavy), ...labelled.filter((i) => !i.heavy)]) {
    const home = item.texts.map((t) => [+t.getAttribute("x"), +t.getAttribute("y")]);
    const move = (d) => item.texts.forEach((t, i) => { t.setAttribute("x", home[i][0] + item.ux * d); t.setAttribute("y", home[i][1] + item.uy * d); });
    let best = 0;
    for (const d of [0, 12, -12, 24, -24, 36, -36, 48, -48, 60, -60]) {
      move(d);
      const u = box(item.texts);
      if (!placed.some((v) => hits(u, v)) && !onNode(u)) { best = d; break; }
    }
    move(best);
    placed.push(box(item.texts));
  }
}

function renderGraph(g) {
  const root = $("graph");
  const W = 900, H = 520, cx = W / 2, cy = H / 2, R = Math.min(W, H) / 2 - 70;
  const n = g.nodes.length;
  const at = new Map(g.nodes.map((node, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, n);
    return [node.id, { x: cx + (n > 1 ? R * Math.cos(a) : 0), y: cy + (n > 1 ? R * Math.sin(a) : 0) }];
  }));
  const defs = svg("defs");
  for (const [id, cls] of [["arrow", "arrowhead"], ["arrow-learnt", "arrowhead learnt"]]) {
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 14, markerHeight: 14, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
    defs.append(marker);
  }
  const pair = (a, b) => [a, b].sort().join("\u0000");
  const overlapping = new Set(g.links.filter((l) => l.kind === "overlap").map((l) => pair(l.from, l.to)));
  const top = Math.max(1, ...g.links.filter((l) => l.kind !== "overlap").map((l) => l.count));
  const labelled = []; // each edge's label lines, and the direction along its edge to slide them
  const links = g.links.map((l) => {
    const a = at.get(l.from), b = at.get(l.to), kind = l.kind || "travel";
    const group = svg("g", { class: `link ${kind}${l.count ? "" : " learnt-only"}`, "data-kind": kind, "data-from": l.from, "data-to": l.to, "data-count": l.count });
    if (!a || !b) return group;
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len, r = NODE_R + 4;
    const learnt = learntText(l);
    if (kind === "overlap") {
      // two views that see one vehicle at once: a straight dashed line, no direction
      const sx = a.x + ux * r, sy = a.y + uy * r, ex = b.x - ux * r, ey = b.y - uy * r;
      group.append(svg("path", { d: `M${sx},${sy} L${ex},${ey}`, "stroke-width": l.count ? 2.5 : 1.5 }));
      const text = l.count ? `overlap · ${l.count}` + (l.learnt ? ` (learnt ${l.learnt.observations ?? "?"})` : "") : `overlap (learnt ${l.learnt?.observations ?? "?"})`;
      const label = svg("text", { x: (sx + ex) / 2, y: (sy + ey) / 2 + 4, class: "link-label", "text-anchor": "middle" }, text);
      group.append(label);
      labelled.push({ texts: [label], ux, uy, heavy: true });
      group.append(svg("title", {}, `${l.from} ⇄ ${l.to}: views that overlap (${l.count} identities seen on both at once)` + (learnt ? `; ${learnt}` : "")));
      return group;
    }
    // bend each direction to its own side, so A→B and B→A do not overlap (further where an overlap line runs between them)
    const bend = overlapping.has(pair(l.from, l.to)) ? 80 : 40;
    const nx = -uy, ny = ux; // this direction's side
    const mx = (a.x + b.x) / 2 + nx * bend, my = (a.y + b.y) / 2 + ny * bend;
    const sx = a.x + ux * r, sy = a.y + uy * r, ex = b.x - ux * (r + 4), ey = b.y - uy * (r + 4);
    group.append(svg("path", { d: `M${sx},${sy} Q${mx},${my} ${ex},${ey}`, "stroke-width": l.count ? 1.5 + (5 * l.count) / top : 1.2,
      "marker-end": l.count ? "url(#arrow)" : "url(#arrow-learnt)" }));
    // labels on the curve (a nearly vertical one: beside it, on its own side), the second line away from the other direction's
    const side = Math.abs(nx) > 0.95, ox = side ? nx * 6 : 0;
    const lx = (sx + 2 * mx + ex) / 4 + ox, ly = (sy + 2 * my + ey) / 4;
    const anchor = side ? (nx > 0 ? "start" : "end") : "middle";
    const lines = l.count ? [[`${l.count} · ${span(l.travel_s.median)}`, "link-label"]] : [];
    if (learnt) lines.push([learnt, l.count ? "link-learnt" : "link-label"]);
    const first = ly + 4 - (side ? 7 : ny < 0 ? 14 : 0) * (lines.length - 1);
    const texts = lines.map(([text, cls], i) => svg("text", { x: lx, y: first + 14 * i, class: cls, "text-anchor": anchor }, text));
    group.append(...texts);
    labelled.push({ texts, ux, uy, heavy: l.count > 0 });
    group.append(svg("title", {}, `${l.from} → ${l.to}: ${l.count} identities` + (l.travel_s ? `, travel ${span(l.travel_s.min)}–${span(l.travel_s.max)}` : "") +
      (learnt ? `; ${learnt} between view centres` : "")));
    return group;
  });
  const nodes = g.nodes.map((node) => {
    const p = at.get(node.id);
    const group = svg("g", { class: "node", "data-camera": node.id, transform: `translate(${p.x},${p.y})` });
    group.append(svg("circle", { r: NODE_R }), svg("text", { class: "node-name", y: -1 }, node.id),
      svg("text", { class: "node-count", y: 16 }, `${node.sightings} sighting${node.sightings === 1 ? "" : "s"}`));
    return group;
  });
  // overlaps under the travel links, labels of both above every line
  const order = [...links.filter((x) => x.dataset.kind === "overlap"), ...links.filter((x) => x.dataset.kind !== "overlap")];
  root.replaceChildren(defs, ...order, ...nodes);
  unclutter(labelled, [...at.values()]);
  const travel = g.links.filter((l) => l.kind !== "overlap").length, overlaps = g.links.length - travel;
  $("graph-note").textContent = `(${g.nodes.length} cameras, ${travel} links, ${overlaps} overlap${overlaps === 1 ? "" : "s"}, from ${g.identities} identities in ${g.store})`;
  $("links").replaceChildren(...(g.links.length ? g.links.map((l) => {
    const row = el("tr");
    row.dataset.kind = l.kind || "travel";
    row.dataset.from = l.from;
    row.dataset.to = l.to;
    const hist = el("td");
    hist.append(histogramSVG(l.histogram));
    const t = l.travel_s, k = l.learnt;
    let learnt = "–";
    if (k && l.kind === "overlap") learnt = `overlap: ${k.observations ?? "?"} confident (${k.expected ?? "?"} by chance)`;
    else if (k) learnt = `${spread(k.mean_s, k.std_s) || "–"}, range ${span(k.min_s)}–${span(k.max_s)} (${k.observations ?? "?"} confident)`;
    const travelled = l.kind === "overlap" ? el("td", "overlap-note", "overlap: seen on both at once") : el("td", "num", t ? `${span(t.min)} / ${span(t.median)} / ${span(t.max)}` : "–");
    row.append(el("td", null, l.from), el("td", null, l.kind === "overlap" ? `⇄ ${l.to}` : l.to), el("td", "num", num(l.count)), travelled, hist, el("td", null, learnt));
    return row;
  }) : [(() => { const r = el("tr"); const c = el("td", "none", "no identity was seen on two cameras yet"); c.colSpan = 6; r.append(c); return r; })()]));
}

async function showGraph() {
  try {
    renderGraph(await getJSON("/api/graph"));
  } catch (err) {
    problem($("graph").parentElement, err.message);
  }
}

// ---- routing -----------------------------------------------------------------------------------

function show(view) {
  for (const name of ["live", "identity", "search", "graph"]) $(`view-${name}`).hidden = name !== view;
  $("live-stats").hidden = view !== "live";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  document.body.dataset.view = view;
  $("mode").textContent = view === "live" ? "live" : view === "graph" ? "camera graph" : view;
}

async function start() {
  try {
    INFO = await getJSON("/api/info");
  } catch (err) {
    $("status").className = "status bad";
    $("status").textContent = `dashboard unreachable (${err.message})`;
  }
  $("goto").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("goto-id").value.trim();
    if (/^\d+$/.test(id)) location.href = `/identity/${id}`;
  });
  if (!INFO.live) {
    $("nav-live").hidden = true;
    const banner = $("banner");
    banner.hidden = false;
    banner.textContent = `A finished run: ${INFO.store} (no live feed; corrections made on identity pages are written to this store)`;
    $("status").className = "status ok";
    $("status").textContent = `${INFO.cameras.length} cameras`;
  }
  const path = location.pathname;
  const identity = path.match(/^\/identity\/(\d+)$/);
  if (identity) {
    show("identity");
    await showIdentity(Number(identity[1]));
  } else if (path === "/graph") {
    show("graph");
    await showGraph();
  } else if (path === "/search" || !INFO.live) {
    show("search");
    setupSearch();
  } else {
    show("live");
  }
  if (INFO.live) poll();
}

start();
