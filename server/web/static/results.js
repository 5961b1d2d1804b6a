/* Campaign results: per step, sent / opened / clicked / replied / bounced as grouped SVG bars,
   from GET /campaigns/{id}/stats (when this server has that endpoint). */
(function () {
  "use strict";
  const box = document.getElementById("results");
  if (!box || box.dataset.stats !== "1") return;
  const {api} = window.Stepline;
  const NS = "http://www.w3.org/2000/svg";
  const METRICS = ["sent", "opened", "clicked", "replied", "bounced"];
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  function count(step, metric) {
    const v = step[metric] ?? (step.counts || {})[metric] ?? 0;
    return typeof v === "number" ? v : Number(v) || 0;
  }
  async function load() {
    try {
      const data = await api("GET", `/campaigns/${window.Builder.campaignId}/stats`);
      const steps = data.steps || [];
      const total = steps.reduce((n, s) => n + METRICS.reduce((m, k) => m + count(s, k), 0), 0);
      if (!steps.length || !total) {
        box.innerHTML = '<p class="muted">No activity yet: sends, opens, clicks, replies and bounces per step appear here.</p>';
        return;
      }
      const max = Math.max(1, ...steps.flatMap(s => METRICS.map(m => count(s, m))));
      const group = METRICS.length * 16 + 24, H = 120, width = Math.max(steps.length * group + 40, 300);
      const svg = node("svg", {viewBox: `0 0 ${width} ${H + 50}`, width, height: H + 50, class: "chart",
        role: "img", "aria-label": "Results per step"});
      const table = document.createElement("table");
      table.innerHTML = "<thead><tr><th scope='col'>Step</th>" + METRICS.map(m => `<th scope='col'>${m}</th>`).join("") + "</tr></thead>";
      const tbody = table.appendChild(document.createElement("tbody"));
      steps.forEach((s, i) => {
        const x0 = 30 + i * group;
        METRICS.forEach((m, j) => {
          const v = count(s, m), h = Math.round((v / max) * H);
          const bar = node("rect", {x: x0 + j * 16, y: 10 + H - h, width: 13, height: h, class: "bar bar-" + m});
          bar.append(node("title", {}, `${m}: ${v}`));
          svg.append(bar);
        });
        svg.append(node("text", {x: x0 + group / 2 - 12, y: H + 28, "text-anchor": "middle", class: "tl-date"},
          `Day ${s.day ?? "?"}·${s.position ?? i + 1} ${s.type || ""}`));
        const row = tbody.insertRow();
        row.innerHTML = `<th scope="row">Day ${s.day ?? "?"}, step ${s.position ?? i + 1}</th>` + METRICS.map(m => `<td>${count(s, m)}</td>`).join("");
      });
      const legend = document.createElement("p");
      legend.className = "legend small";
      legend.innerHTML = METRICS.map(m => `<span class="key bar-${m}"></span>${m}`).join(" ");
      box.replaceChildren(svg, legend, table);
    } catch (e) { box.innerHTML = ""; box.append(Object.assign(document.createElement("p"), {className: "error", textContent: e.message})); }
  }
  load();
  // Live: engagement events on this campaign redraw the chart.
  let timer = null;
  document.addEventListener("stepline:event", ev => {
    if (ev.detail.campaign_id !== window.Builder.campaignId) return;
    clearTimeout(timer);
    timer = setTimeout(load, 500);
  });
})();
