/* Launch dialog: pick people (search, or a CSV imported through POST /people/bulk with a
   per-row report), the mailbox, the start date, the first email's send time when the first
   step is choose_at_launch, per-step times of at_time steps; then shows who was enrolled
   and who was refused, and why. */
(function () {
  "use strict";
  const {api, toast, el, localToInstant, instantToLocal} = window.Stepline;
  const $ = id => document.getElementById(id);
  const dialog = $("launch");
  const campaignId = window.Builder.campaignId;
  const picked = new Map();  // person id -> label
  let campaign = null;

  function label(p) {
    const name = [p.first_name, p.last_name].filter(Boolean).join(" ");
    return name ? `${name} <${p.email}>` : p.email;
  }

  function renderPicked() {
    $("picked").replaceChildren(...[...picked].map(([id, text]) => el("li", {"data-person-id": id}, text, " ",
      el("button", {type: "button", class: "ghost small", "aria-label": "Remove " + text,
        onclick: () => { picked.delete(id); renderPicked(); }}, "Remove"))));
    $("picked-count").textContent = picked.size;
  }

  function pick(p) { picked.set(p.id, label(p)); renderPicked(); }

  let searchTimer = null;
  $("people-q").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 200);
  });
  async function search() {
    const q = $("people-q").value.trim();
    try {
      const {people} = await api("GET", "/people?limit=20&q=" + encodeURIComponent(q));
      $("people-results").replaceChildren(...(people.length ? people.map(p => el("li", {"data-person-id": p.id},
        label(p), p.unsubscribed ? el("span", {class: "badge warn"}, "unsubscribed") : null, " ",
        el("button", {type: "button", class: "secondary small", "aria-label": "Add " + label(p),
          onclick: () => pick(p)}, "Add"))) : [el("li", {class: "muted"}, "Nobody matches.")]));
    } catch (e) { toast(e.message, "bad"); }
  }

  // --------------------------------------------------------------- CSV import
  /** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. */
  function parseCsv(text) {
    const rows = []; let row = [], field = "", quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { row.push(field); field = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(field); field = "";
        if (row.some(v => v.trim() !== "")) rows.push(row);
        row = [];
      } else field += c;
    }
    row.push(field);
    if (row.some(v => v.trim() !== "")) rows.push(row);
    return rows;
  }
  const STANDARD = ["email", "first_name", "last_name", "company", "title", "timezone"];

  $("csv-file").addEventListener("change", async ev => {
    const file = ev.target.files[0];
    if (!file) return;
    const report = $("csv-report");
    const rows = parseCsv(await file.text());
    if (rows.length < 2) { report.replaceChildren(el("p", {class: "error"}, "The CSV needs a header row and at least one person.")); return; }
    const header = rows[0].map(h => h.trim().toLowerCase().replace(/\s+/g, "_"));
    if (!header.includes("email")) { report.replaceChildren(el("p", {class: "error"}, "The CSV needs an 'email' column.")); return; }
    const people = rows.slice(1).map(r => {
      const person = {fields: {}};
      header.forEach((h, i) => {
        const v = (r[i] || "").trim();
        if (STANDARD.includes(h)) person[h] = v || null; else if (h && v) person.fields[h] = v;
      });
      return person;
    });
    try {
      const result = await api("POST", "/people/bulk", {people});
      const lines = [];
      let known = 0;
      const failed = new Map(result.errors.map(e => [e.index, e]));
      let created = 0;
      const ids = [...result.created];
      for (let i = 0; i < people.length; i++) {
        const rowNo = i + 2;  // +1 for the header, +1 for 1-based
        const error = failed.get(i);
        if (!error) {
          const id = ids.shift(); created++;
          picked.set(id, label({id, ...people[i]}));
          lines.push(el("li", {class: "ok"}, `Row ${rowNo}: ${people[i].email}: added`));
        } else if (/already exists/.test(error.message)) {
          const found = (await api("GET", "/people?limit=5&q=" + encodeURIComponent(people[i].email))).people
            .find(p => p.email === String(people[i].email).trim().toLowerCase());
          if (found) { pick(found); known++; lines.push(el("li", {class: "ok"}, `Row ${rowNo}: ${found.email}: already known, added`)); }
          else lines.push(el("li", {class: "bad"}, `Row ${rowNo}: ${error.message}`));
        } else lines.push(el("li", {class: "bad"}, `Row ${rowNo}: ${error.message}`));
      }
      renderPicked();
      report.replaceChildren(el("p", {}, `${created} new, ${known} already known, ${result.errors.length - known} with errors.`), el("ul", {class: "report"}, lines));
    } catch (e) { report.replaceChildren(el("p", {class: "error"}, e.message)); }
  });

  // --------------------------------------------------------------- options
  async function open() {
    try {
      const [c, boxes] = await Promise.all([api("GET", "/campaigns/" + campaignId), api("GET", "/mailboxes")]);
      campaign = c;
      $("l-mailbox").replaceChildren(...(boxes.mailboxes.length
        ? boxes.mailboxes.map(m => new Option(`${m.address} (${m.provider})`, m.id))
        : [new Option("No mailbox connected", "")]));
      const today = instantToLocal(new Date().toISOString()).slice(0, 10);
      if (!$("l-start").value) $("l-start").value = today;
      if (!$("l-sendat-at").value) $("l-sendat-at").value = instantToLocal(new Date(Date.now() + 3600e3).toISOString());
      const first = c.steps[0];
      $("l-sendat-box").hidden = !(first && first.type === "email" && first.send_option === "choose_at_launch");
      const timed = c.steps.filter(s => s.type === "email" && s.send_option === "at_time");
      $("l-times-box").hidden = !timed.length;
      $("l-times").replaceChildren(...timed.map(s => el("div", {class: "row"},
        el("label", {for: "l-time-" + s.id}, `Day ${s.day}, step ${s.position}`),
        el("input", {type: "time", id: "l-time-" + s.id, "data-step-id": s.id, value: s.time || ""}))));
      $("launch-result").replaceChildren();
      $("launch-error").hidden = true;
      dialog.showModal();
      $("people-q").focus();
      search();
    } catch (e) { toast(e.message, "bad"); }
  }

  function clearErrors() {
    dialog.querySelectorAll("[data-lerr]").forEach(p => { p.hidden = true; p.textContent = ""; });
    $("launch-error").hidden = true;
  }

  async function go() {
    clearErrors();
    const body = {people: [...picked.keys()], mailbox_id: $("l-mailbox").value ? Number($("l-mailbox").value) : null,
                  start_date: $("l-start").value || null};
    if (!$("l-sendat-box").hidden) {
      const mode = dialog.querySelector('input[name="l-sendat"]:checked').value;
      body.send_at = mode === "now" ? "now" : localToInstant($("l-sendat-at").value);
    }
    const times = {};
    $("l-times").querySelectorAll("input[data-step-id]").forEach(input => {
      const step = campaign.steps.find(s => String(s.id) === input.dataset.stepId);
      if (input.value && step && input.value !== step.time) times[input.dataset.stepId] = input.value;
    });
    if (Object.keys(times).length) body.step_times = times;
    try {
      const result = await api("POST", `/campaigns/${campaignId}/launch`, body);
      const names = id => picked.get(id) || "person #" + id;
      $("launch-result").replaceChildren(
        el("h3", {}, `Enrolled ${result.enrolled.length}, refused ${result.refused.length}`),
        el("ul", {class: "report", id: "launch-enrolled"}, result.enrolled.map(r => el("li", {class: "ok"}, names(r.person_id) + ": enrolled"))),
        el("ul", {class: "report", id: "launch-refused"}, result.refused.map(r => el("li", {class: "bad"}, names(r.person_id) + ": " + r.reason))));
      toast(`Enrolled ${result.enrolled.length}`, "ok");
    } catch (e) {
      const target = e.field && dialog.querySelector(`[data-lerr="${e.field.split(/[.\[]/)[0]}"]`);
      const node = target || $("launch-error");
      node.textContent = e.message; node.hidden = false;
    }
  }

  $("open-launch").addEventListener("click", open);
  $("launch-go").addEventListener("click", go);
  $("launch-close").addEventListener("click", () => dialog.close());
})();
