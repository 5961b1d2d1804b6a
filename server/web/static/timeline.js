/* The timeline picture: calendar days across, each step as an icon at its planned date,
   labelled with its send time (or "task"). Input is the API's timeline (GET
   /campaigns/{id}/timeline or POST /campaigns/timeline-preview), so the picture shows
   exactly what the scheduling code computes: weekends skipped, holidays, send windows. */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const ICONS = {email: "✉", call: "☎", inmail: "in", custom: "★"};
  const COL = 86, TOP = 46, ROW = 62;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function parseDate(iso) { const [y, m, d] = iso.split("-").map(Number); return new Date(Date.UTC(y, m - 1, d)); }
  function isoDate(date) { return date.toISOString().slice(0, 10); }

  function stepLabel(s, fmtTime) {
    if (s.kind === "task") return s.type === "email" ? "email task" : "task";
    if (s.at) return fmtTime(s.at);
    return s.send_option === "choose_at_launch" ? "at launch" : "time unknown";
  }

  /** Draws `steps` (the API's planned steps) into `container`; returns the <svg>. */
  function drawTimeline(container, steps, fmtTime) {
    container.replaceChildren();
    if (!steps.length) { container.textContent = "Add a step to see the timeline."; return null; }
    const byDate = new Map();
    for (const s of steps) { if (!byDate.has(s.date)) byDate.set(s.date, []); byDate.get(s.date).push(s); }
    const first = parseDate(steps[0].date), last = parseDate(steps[steps.length - 1].date);
    const span = Math.round((last - first) / 86400000) + 1;
    let dates = [];
    if (span <= 45) { for (let i = 0; i < span; i++) dates.push(isoDate(new Date(first.getTime() + i * 86400000))); }
    else dates = [...byDate.keys()];
    const rows = Math.max(...[...byDate.values()].map(v => v.length));
    const width = Math.max(dates.length * COL, 200), height = TOP + rows * ROW + 12;
    const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, width, height, class: "timeline-svg",
      "aria-hidden": "true", focusable: "false"});
    const wk = new Intl.DateTimeFormat(undefined, {weekday: "short", timeZone: "UTC"});
    const md = new Intl.DateTimeFormat(undefined, {month: "short", day: "numeric", timeZone: "UTC"});
    const summary = [];
    dates.forEach((iso, col) => {
      const date = parseDate(iso), x = col * COL, weekend = [0, 6].includes(date.getUTCDay());
      const daySteps = byDate.get(iso) || [];
      const g = svg("g", {class: "tl-day" + (weekend ? " weekend" : "") + (daySteps.length ? " has-steps" : ""),
        "data-date": iso});
      g.append(svg("rect", {x: x + 1, y: 0, width: COL - 2, height, rx: 6, class: "tl-col"}));
      g.append(svg("text", {x: x + COL / 2, y: 16, "text-anchor": "middle", class: "tl-date"},
        wk.format(date) + " " + md.format(date)));
      if (daySteps.length) {
        g.append(svg("text", {x: x + COL / 2, y: 33, "text-anchor": "middle", class: "tl-dayno"}, "Day " + daySteps[0].day));
      }
      daySteps.forEach((s, row) => {
        const cx = x + COL / 2, cy = TOP + row * ROW + 18, label = stepLabel(s, fmtTime);
        const step = svg("g", {class: `tl-step kind-${s.kind} type-${s.type}`, "data-day": s.day,
          "data-position": s.position, "data-label": label});
        step.append(svg("title", {}, `Day ${s.day}, step ${s.position}: ${s.type}${s.follow_up ? " (follow-up)" : ""}, ${label}`));
        step.append(svg("circle", {cx, cy, r: 17}));
        step.append(svg("text", {x: cx, y: cy + 5, "text-anchor": "middle", class: "tl-icon"}, ICONS[s.type] || "?"));
        if (s.follow_up) step.append(svg("text", {x: cx + 19, y: cy - 9, class: "tl-follow"}, "↩"));
        step.append(svg("text", {x: cx, y: cy + 34, "text-anchor": "middle", class: "tl-time"}, label));
        g.append(step);
        summary.push(`Day ${s.day} (${wk.format(date)} ${md.format(date)}): ${s.type}, ${label}`);
      });
      root.append(g);
    });
    container.append(root);
    container.setAttribute("aria-label", "Timeline: " + summary.join("; "));
    return root;
  }

  window.StepTimeline = {drawTimeline};
})();
