/* Stepline web app: shared helpers (API calls with the session + CSRF header, toasts,
   time formatting) and the Live Feed panel fed by server-sent events. Vanilla JS, no build. */
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const user = (window.STEPLINE || {}).user || {};

  /** Calls /api/v1 with the session cookie; throws an Error carrying the API's {code, message, field}. */
  async function api(method, path, body) {
    const init = {method, credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch("/api/v1" + path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const err = (data && data.error) || {message: response.status + " " + response.statusText};
      const error = new Error(err.message || "request failed");
      error.status = response.status; error.field = err.field || null; error.code = err.code;
      throw error;
    }
    return data;
  }

  let toastTimer = null;
  function toast(message, kind) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.className = "toast " + (kind || "");
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const zone = user.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone;
  function fmtInstant(iso) {
    if (!iso) return "";
    return new Intl.DateTimeFormat(undefined, {timeZone: zone, month: "short", day: "numeric", weekday: "short",
      hour: "2-digit", minute: "2-digit"}).format(new Date(iso));
  }
  function fmtTime(iso) {
    if (!iso) return "";
    return new Intl.DateTimeFormat(undefined, {timeZone: zone, hour: "2-digit", minute: "2-digit"}).format(new Date(iso));
  }
  /** Offset (ms) of time zone `tz` at instant `ms`. */
  function zoneOffset(ms, tz) {
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-US", {timeZone: tz, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"}).formatToParts(new Date(ms))) {
      parts[p.type] = p.value;
    }
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return asUtc - Math.floor(ms / 1000) * 1000;
  }
  /** "2026-03-03T09:30" read as a wall-clock time in the user's zone -> ISO instant (UTC). */
  function localToInstant(value, tz) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let guess = wall - zoneOffset(wall, tz || zone);
    guess = wall - zoneOffset(guess, tz || zone);
    return new Date(guess).toISOString();
  }
  /** An instant -> "YYYY-MM-DDTHH:MM" wall clock in the user's zone (for datetime-local inputs). */
  function instantToLocal(iso, tz) {
    const ms = new Date(iso).getTime();
    const local = new Date(ms + zoneOffset(ms, tz || zone));
    return local.toISOString().slice(0, 16);
  }

  const people = new Map();
  function personLabel(id) {
    if (!id) return Promise.resolve("");
    if (!people.has(id)) {
      people.set(id, api("GET", "/people/" + id).then(
        p => [p.first_name, p.last_name].filter(Boolean).join(" ") || p.email, () => "person #" + id));
    }
    return people.get(id);
  }

  /** HTML from the server (rendered templates) shown in the page: drop active content
      (scripts, frames, event handlers, javascript: links) before it touches the DOM. */
  function safeHtml(html) {
    const doc = new DOMParser().parseFromString("<body>" + (html || "") + "</body>", "text/html");
    doc.querySelectorAll("script,iframe,object,embed,link,meta,style,form,base").forEach(n => n.remove());
    doc.body.querySelectorAll("*").forEach(n => {
      for (const attr of [...n.attributes]) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on") || (["href", "src", "xlink:href", "action"].includes(name) &&
            /^\s*(javascript|data|vbscript):/i.test(attr.value))) n.removeAttribute(attr.name);
      }
    });
    return doc.body.innerHTML;
  }

  window.Stepline = {api, toast, el, fmtInstant, fmtTime, localToInstant, instantToLocal, zone, user, csrf,
                     personLabel, safeHtml};

  // ------------------------------------------------------------------ Live Feed
  const FEED_LABELS = {
    enrolled: "Enrolled", sent: "Email sent", delivered: "Delivered", opened: "Opened", clicked: "Clicked",
    replied: "Replied", auto_replied: "Auto-reply", bounced: "Bounced", unsubscribed: "Unsubscribed",
    task_created: "New task", task_completed: "Task completed", task_skipped: "Task skipped",
    removed: "Removed", paused: "Paused", resumed: "Resumed", failed: "Send failed", finished: "Finished",
  };
  const feed = document.getElementById("live-feed");
  if (!feed) return;
  const list = document.getElementById("feed-list");
  const state = document.getElementById("feed-state");
  const empty = document.getElementById("feed-empty");
  const seen = new Set();

  function addEvent(ev) {
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    empty.hidden = true;
    const who = el("span", {class: "feed-who"});
    personLabel(ev.person_id).then(name => { who.textContent = name; });
    const detail = ev.data && (ev.data.subject || ev.data.reason || ev.data.url || "");
    const item = el("li", {class: "feed-item type-" + ev.type, "data-type": ev.type, "data-event-id": ev.id},
      el("span", {class: "feed-type"}, FEED_LABELS[ev.type] || ev.type), " ", who,
      detail ? el("span", {class: "feed-detail"}, detail) : null,
      el("time", {datetime: ev.at}, fmtInstant(ev.at)));
    list.prepend(item);
    while (list.children.length > 100) list.lastElementChild.remove();
    document.dispatchEvent(new CustomEvent("stepline:event", {detail: ev}));
  }

  // One stream per visible tab: a hidden tab closes its stream (browsers allow only ~6
  // connections per host over HTTP/1.1) and resumes after the last event it saw.
  let lastId = (window.STEPLINE && window.STEPLINE.feedAfter) || 0;
  let source = null;
  function connect() {
    if (source) return;
    source = new EventSource("/api/v1/events/stream?after_id=" + lastId);
    source.onopen = () => { state.textContent = "live"; state.className = "badge ok"; };
    source.onerror = () => { state.textContent = "reconnecting…"; state.className = "badge warn"; };
    const handler = (message) => {
      try {
        const ev = JSON.parse(message.data);
        lastId = Math.max(lastId, ev.id);
        addEvent(ev);
      } catch (e) { /* a malformed message is skipped */ }
    };
    source.onmessage = handler;
    for (const type of Object.keys(FEED_LABELS)) source.addEventListener(type, handler);
  }
  function disconnect() {
    if (source) { source.close(); source = null; }
    state.textContent = "paused"; state.className = "badge";
  }
  document.addEventListener("visibilitychange", () => { if (document.hidden) disconnect(); else connect(); });
  window.addEventListener("pagehide", disconnect);
  connect();

  // Docking: right side, bottom, or hidden; remembered in this browser.
  const toggle = document.getElementById("feed-toggle");
  const dock = document.getElementById("feed-dock");
  function applyDock(where, shown) {
    feed.classList.toggle("dock-bottom", where === "bottom");
    feed.classList.toggle("dock-right", where !== "bottom");
    document.body.classList.toggle("feed-bottom", where === "bottom");
    feed.hidden = !shown;
    document.body.classList.toggle("with-feed", shown);
    toggle.setAttribute("aria-expanded", String(shown));
    dock.textContent = where === "bottom" ? "Dock right" : "Dock bottom";
  }
  let where = localStorage.getItem("stepline.feed.dock") || "right";
  let shown = localStorage.getItem("stepline.feed.shown") !== "false";
  applyDock(where, shown);
  toggle.addEventListener("click", () => {
    shown = !shown; localStorage.setItem("stepline.feed.shown", String(shown)); applyDock(where, shown);
  });
  dock.addEventListener("click", () => {
    where = where === "bottom" ? "right" : "bottom"; localStorage.setItem("stepline.feed.dock", where);
    applyDock(where, shown);
  });
})();
