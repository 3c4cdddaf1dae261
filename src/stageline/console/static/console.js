// Stageline console: live regions refreshed on server-sent `change` events, a Gantt whose
// running bars grow, and action logs followed as they are written. No framework, no build.

const liveState = document.getElementById("live-state");

function showLive(text, ok) {
  if (!liveState) return;
  liveState.hidden = false;
  liveState.textContent = text;
  liveState.dataset.ok = ok ? "yes" : "no";
}

// -- live regions --------------------------------------------------------------------------
let refreshing = false;
// The change mark the page shows; the server puts it in the page it draws.
let seen = document.body.dataset.mark || "";
let pending = false;

function busy(region) {
  // Never pull a form out from under someone typing in it.
  const active = document.activeElement;
  if (active && region.contains(active) && active.closest("form")) return true;
  for (const field of region.querySelectorAll("textarea, input:not([type=hidden])")) {
    if (field.type === "radio" || field.type === "checkbox") {
      if (field.checked !== field.defaultChecked) return true;
    } else if (field.value !== field.defaultValue) return true;
  }
  return false;
}

function swap(region, fresh) {
  // Keep what the reader set: open or closed sections, and logs already streaming.
  const openById = new Map([...region.querySelectorAll("details[id]")].map((d) => [d.id, d.open]));
  const plain = [...region.querySelectorAll("details:not([id])")].map((d) => d.open);
  for (const details of fresh.querySelectorAll("details[data-log-action]")) {
    const old = region.querySelector(`#${CSS.escape(details.id)}`);
    if (!old) continue;
    for (const selector of ["pre.log", "[data-log-state]"]) {
      const keep = old.querySelector(selector);
      const drop = details.querySelector(selector);
      if (keep && drop) drop.replaceWith(keep);
    }
  }
  region.replaceWith(fresh);
  for (const d of fresh.querySelectorAll("details[id]")) {
    if (openById.has(d.id)) d.open = openById.get(d.id);
  }
  const rest = fresh.querySelectorAll("details:not([id])");
  if (rest.length === plain.length) rest.forEach((d, i) => { d.open = plain[i]; });
}

async function refresh() {
  if (refreshing) { pending = true; return; }
  refreshing = true;
  try {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.redirected && new URL(response.url).pathname.endsWith("/sign-in")) {
      showLive("Signed out", false);
      return;
    }
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    seen = doc.body.dataset.mark || seen;
    let deferred = false;
    for (const region of document.querySelectorAll("[data-live-region][id]")) {
      const fresh = doc.getElementById(region.id);
      if (!fresh || fresh.innerHTML === region.innerHTML) continue;
      if (busy(region)) { deferred = true; continue; }
      swap(region, document.importNode(fresh, true));
    }
    if (deferred) pending = true;
    layoutGantts();
    followLogs();
    applyFilter();
    document.dispatchEvent(new CustomEvent("console:refreshed"));
  } catch (error) {
    pending = true;
  } finally {
    refreshing = false;
    if (pending) { pending = false; setTimeout(refresh, 750); }
  }
}
document.addEventListener("focusout", () => { if (pending) setTimeout(refresh, 50); });

function followChanges() {
  if (document.body.dataset.liveOn !== "yes") return;
  const pipeline = document.body.dataset.live;
  const url = "/console/events/changes" + (pipeline ? `?pipeline=${encodeURIComponent(pipeline)}` : "");
  const source = new EventSource(url);
  source.addEventListener("hello", (e) => {
    showLive("Live", true);
    // Whatever moved since the page was drawn (or while reconnecting) is fetched at once.
    if (JSON.parse(e.data).mark !== seen) refresh();
  });
  source.addEventListener("change", (e) => {
    if (JSON.parse(e.data).mark !== seen) refresh();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) showLive("Offline — reload the page", false);
    else showLive("Reconnecting…", false);
  });
}

// -- Gantt ---------------------------------------------------------------------------------
function fmt(seconds) {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}

function layoutGantts() {
  for (const gantt of document.querySelectorAll(".gantt")) {
    const start = Date.parse(gantt.dataset.start);
    const running = gantt.dataset.running === "yes";
    gantt.dataset.seenAt ??= String(Date.now());
    const renderedAt = Number(gantt.dataset.seenAt);
    // The server's "now" at render time, moved on by the time since (no clock skew).
    const now = Date.parse(gantt.dataset.end) + (running ? Date.now() - renderedAt : 0);
    const span = Math.max(now - start, 1000);
    for (const bar of gantt.querySelectorAll(".bar")) {
      const from = Date.parse(bar.dataset.from);
      const to = bar.dataset.to ? Date.parse(bar.dataset.to) : now;
      const left = ((from - start) / span) * 100;
      const width = Math.max(((to - from) / span) * 100, 0.4);
      const at = Math.min(Math.max(left, 0), 99.6);
      const size = Math.min(width, 100 - at);
      bar.style.left = `${at}%`;
      bar.style.width = `${size}%`;
      // The label (icon + duration) sits after the bar, or before it near the right edge.
      const label = bar.nextElementSibling;
      if (label) {
        const late = at + size > 80;
        label.style.left = late ? "auto" : `calc(${at + size}% + 6px)`;
        label.style.right = late ? `calc(${100 - at}% + 6px)` : "auto";
        const text = label.querySelector("[data-bar-duration]");
        if (text && !bar.dataset.to) text.textContent = fmt((to - from) / 1000);
      }
    }
    const end = gantt.querySelector("[data-axis-end]");
    if (end) end.textContent = fmt(span / 1000);
  }
}

// -- logs ----------------------------------------------------------------------------------
// Logs being followed or already complete, by action: each is streamed once per page.
const streams = new Set();

function follow(details) {
  const pre = details.querySelector("pre.log");
  const state = details.querySelector("[data-log-state]");
  const id = details.id;
  if (!pre || streams.has(id)) return;
  const source = new EventSource(pre.dataset.logSrc);
  streams.add(id);
  if (state) state.textContent = "following…";
  source.addEventListener("log", (e) => {
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    // The event's data is the chunk as written (SSE carries its newlines as data lines).
    pre.append(document.createTextNode(e.data));
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (e) => {
    source.close();
    const info = JSON.parse(e.data);
    if (info.status === "Superseded") {
      // Retried: follow the new attempt from its start.
      streams.delete(id);
      pre.textContent = "";
      setTimeout(() => { const now = document.getElementById(id); if (now) follow(now); }, 500);
      return;
    }
    if (state) state.textContent = info.status ? `ended: ${info.status}` : info.message || "";
    if (!pre.textContent) pre.textContent = "(no log output)";
  });
  source.addEventListener("error", () => { if (state) state.textContent = "reconnecting…"; });
}

function followLogs() {
  for (const details of document.querySelectorAll("details[data-log-action]")) {
    if (details.open) follow(details);
    if (details.dataset.wired) continue;
    details.dataset.wired = "yes";
    details.addEventListener("toggle", () => { if (details.open) follow(details); });
  }
}

// -- search as you type (the form still works without script) ------------------------------
function applyFilter() {
  const input = document.querySelector("[data-filter-rows]");
  if (!input) return;
  const needle = input.value.trim().toLowerCase();
  for (const row of document.querySelectorAll(input.dataset.filterRows)) {
    row.hidden = needle !== "" && !row.dataset.name.toLowerCase().includes(needle);
  }
}

function wireFilter() {
  const input = document.querySelector("[data-filter-rows]");
  if (input) input.addEventListener("input", applyFilter);
}

function focusHash() {
  // Opening an action from a link focuses it, so keyboard users land where they meant.
  if (!location.hash) return;
  const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target instanceof HTMLDetailsElement) { target.open = true; target.querySelector("summary")?.focus(); }
}

// Durations of what is still running count up, on the server's clock.
const skew = Date.parse(document.body.dataset.now) - Date.now() || 0;

function tickDurations() {
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = fmt((Date.now() + skew - Date.parse(el.dataset.since)) / 1000);
  }
}

layoutGantts();
setInterval(() => {
  if (document.querySelector(".gantt[data-running=yes]")) layoutGantts();
  tickDurations();
}, 1000);
followChanges();
followLogs();
wireFilter();
focusHash();
