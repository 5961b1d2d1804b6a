/* Campaign builder: name, settings, days and steps, a send-option control that offers only
   what SPEC §3 allows at each position, live merge-field previews, and the timeline picture
   redrawn (through the server's own scheduling code) as the rep edits. */
(function () {
  "use strict";
  const {api, toast, fmtTime, localToInstant, instantToLocal, zone} = window.Stepline;
  const $ = id => document.getElementById(id);
  const form = $("campaign-form");
  const campaignId = form.dataset.campaignId ? Number(form.dataset.campaignId) : null;
  const initial = JSON.parse($("campaign-data").textContent || "null");
  const list = $("steps");
  const tpl = $("step-template");
  let steps = [];
  let templates = [];

  const OPTION_LABELS = {
    choose_at_launch: "I will choose when to send (at launch)",
    at_time: "Send at a set time",
    same_time_as_previous: "Same time as the previous day's email",
    task: "Create a task; I will send it myself",
  };
  const SETTINGS_BOOL = ["skip_weekends", "remove_on_bounce", "ignore_auto_replies"];

  // ------------------------------------------------------------ SPEC §3, as the form shows it
  /** Send options allowed at index i (the server enforces the same rules on save). */
  function allowedOptions(i) {
    if (i === 0) return steps[0].day === 1 ? ["choose_at_launch", "at_time", "task"] : ["at_time", "task"];
    return ["same_time_as_previous", "at_time", "task"];
  }
  /** The follow-up flag only after an email step, never on the first step. */
  function followUpAllowed(i) { return i > 0 && steps[i - 1].type === "email"; }

  function normalize() {
    steps.forEach((s, i) => {
      if (s.type !== "email") return;
      const allowed = allowedOptions(i);
      if (!allowed.includes(s.send_option)) s.send_option = allowed.includes("same_time_as_previous") ? "same_time_as_previous" : "at_time";
      if (!followUpAllowed(i)) s.follow_up = false;
      if (s.send_option === "at_time" && !s.time) s.time = "09:00";
    });
  }

  function newStep() {
    const prev = steps[steps.length - 1];
    return {id: null, day: prev ? prev.day + 2 : 1, type: "email", send_option: null, time: "09:00", follow_up: false,
            mode: templates.length ? "template" : "inline", template_id: templates.length ? templates[0].id : null,
            subject: "", body_html: "", title: "", notes: "", priority: "normal"};
  }

  function fromApi(s) {
    return {id: s.id, day: s.day, type: s.type, send_option: s.send_option, time: s.time || "09:00",
            follow_up: !!s.follow_up, mode: s.template_id ? "template" : "inline", template_id: s.template_id,
            subject: s.subject || "", body_html: s.body_html || "", title: s.title || "", notes: s.notes || "",
            priority: s.priority || "normal"};
  }

  // ------------------------------------------------------------ rendering
  function render(focus) {
    normalize();
    list.replaceChildren(...steps.map((s, i) => renderStep(s, i)));
    if (focus) {
      const i = steps.indexOf(focus.step);
      const node = list.children[i] && list.children[i].querySelector(`[data-k="${focus.key}"]`);
      if (node) node.focus();
    }
    scheduleTimeline();
  }

  function renderStep(s, i) {
    const li = tpl.content.firstElementChild.cloneNode(true);
    li.dataset.index = i;
    li.dataset.type = s.type;
    li.querySelector(".step-legend").textContent = `Step ${i + 1} · Day ${s.day}`;
    li.querySelectorAll("[data-k]").forEach(input => {
      const k = input.dataset.k;
      if (input.type === "radio") {
        input.name = `st${i}-${k}`;
        input.id = `st${i}-${k}-${input.value}`;
        input.checked = s[k] === input.value;
      } else {
        input.id = `st${i}-${k}`;
        if (input.type === "checkbox") input.checked = !!s[k];
        else if (k !== "send_option" && k !== "template_id") input.value = s[k] ?? "";
      }
    });
    li.querySelectorAll("label[data-for]").forEach(l => { l.htmlFor = `st${i}-${l.dataset.for}`; });
    li.querySelectorAll("[data-err]").forEach(p => { p.id = `st${i}-err-${p.dataset.err}`; });
    li.querySelectorAll("[data-k]").forEach(input => {
      const err = li.querySelector(`[data-err="${input.dataset.k}"]`);
      if (err) input.setAttribute("aria-describedby", err.id);
    });
    const option = li.querySelector('[data-k="send_option"]');
    for (const value of allowedOptions(i)) option.append(new Option(OPTION_LABELS[value], value, false, s.send_option === value));
    option.value = s.send_option || "";
    const tselect = li.querySelector('[data-k="template_id"]');
    if (!templates.length) tselect.append(new Option("(no templates yet: write it here)", ""));
    for (const t of templates) tselect.append(new Option(t.name, t.id, false, s.template_id === t.id));
    const email = s.type === "email";
    li.querySelectorAll(".email-only").forEach(n => { n.hidden = !email; });
    li.querySelector(".task-only").hidden = email;
    li.querySelector(".time-field").hidden = !email || s.send_option !== "at_time";
    li.querySelector(".follow-field").hidden = !email || !followUpAllowed(i);
    li.querySelector(".template-field").hidden = s.mode !== "template";
    li.querySelectorAll(".inline-field").forEach(n => { n.hidden = s.mode !== "inline"; });
    li.querySelector('[data-act="up"]').disabled = i === 0;
    li.querySelector('[data-act="down"]').disabled = i === steps.length - 1;
    if (email) schedulePreview(li, s);
    return li;
  }

  // ------------------------------------------------------------ editing
  function stepOf(node) {
    const li = node.closest("li.step");
    return li ? steps[Number(li.dataset.index)] : null;
  }

  list.addEventListener("input", ev => {
    const k = ev.target.dataset.k, s = stepOf(ev.target);
    if (!k || !s) return;
    if (["subject", "body_html", "title", "notes", "time"].includes(k)) {
      s[k] = ev.target.value;
      if (k === "subject" || k === "body_html") schedulePreview(ev.target.closest("li.step"), s);
      if (k === "time") scheduleTimeline();
      markDirty();
    }
  });

  list.addEventListener("change", ev => {
    const k = ev.target.dataset.k, s = stepOf(ev.target);
    if (!k || !s) return;
    if (k === "day") {
      const day = parseInt(ev.target.value, 10);
      s.day = Number.isFinite(day) ? day : ev.target.value;
      // Steps run in day order; a stable sort keeps the order within a day.
      steps = steps.map((x, i) => [x, i]).sort((a, b) => (Number(a[0].day) - Number(b[0].day)) || (a[1] - b[1])).map(x => x[0]);
    } else if (k === "follow_up") s.follow_up = ev.target.checked;
    else if (k === "template_id") s.template_id = ev.target.value ? Number(ev.target.value) : null;
    else if (k === "mode") s.mode = ev.target.value;
    else if (k === "priority") s.priority = ev.target.value;
    else if (k === "type" || k === "send_option") s[k] = ev.target.value;
    else return;
    markDirty();
    render({step: s, key: k === "mode" ? (s.mode === "template" ? "template_id" : "subject") : k});
  });

  list.addEventListener("click", ev => {
    const act = ev.target.dataset.act, s = stepOf(ev.target);
    if (!act || !s) return;
    const i = steps.indexOf(s);
    if (act === "remove") { steps.splice(i, 1); markDirty(); render(); $("add-step").focus(); return; }
    const j = act === "up" ? i - 1 : i + 1;
    if (j < 0 || j >= steps.length) return;
    // Moving across days takes the neighbour's day, so list order and day order agree.
    [steps[i], steps[j]] = [steps[j], steps[i]];
    if (steps[i].day !== steps[j].day) { const d = steps[i].day; steps[i].day = steps[j].day; steps[j].day = d; }
    markDirty();
    render({step: s, key: "day"});
  });

  $("add-step").addEventListener("click", () => {
    const s = newStep();
    steps.push(s);
    markDirty();
    render({step: s, key: "day"});
  });

  form.addEventListener("change", ev => { if (!list.contains(ev.target)) { markDirty(); scheduleTimeline(); } });
  form.addEventListener("input", ev => { if (!list.contains(ev.target)) markDirty(); });

  function markDirty() { $("save-state").textContent = "Unsaved changes"; }

  // ------------------------------------------------------------ payload and errors
  function settingsPayload() {
    const out = {};
    for (const key of SETTINGS_BOOL) out[key] = $("s-" + key).checked;
    out.holidays = $("s-holidays").value.trim() || null;
    out.timezone = $("s-timezone").value;
    out.on_reply = $("s-on_reply").value;
    const a = $("s-window-start").value, b = $("s-window-end").value;
    out.send_window = a || b ? {start: a, end: b} : null;
    return out;
  }

  function stepsPayload(withContent) {
    return steps.map(s => {
      const day = Number(s.day);
      const out = {day: Number.isInteger(day) && String(s.day).trim() !== "" ? day : null, type: s.type};
      if (s.id) out.id = s.id;
      if (s.type === "email") {
        out.send_option = s.send_option;
        out.follow_up = !!s.follow_up;
        out.time = s.send_option === "at_time" ? (s.time || null) : null;
        if (withContent) {
          if (s.mode === "template") out.template_id = s.template_id;
          else { out.template_id = null; out.subject = s.subject; out.body_html = s.body_html; }
        }
      } else if (withContent) {
        out.title = s.title || null; out.notes = s.notes || null; out.priority = s.priority || "normal";
      }
      return out;
    });
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(p => { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(n => n.removeAttribute("aria-invalid"));
    $("form-error").hidden = true;
  }

  function showError(field, message) {
    let target = null, input = null;
    const m = /^steps\[(\d+)\]\.?(\w+)?/.exec(field || "");
    if (m && list.children[Number(m[1])]) {
      const li = list.children[Number(m[1])];
      const key = m[2] || "day";
      target = li.querySelector(`[data-err="${key}"]`) || li.querySelector('[data-err="send_option"]');
      input = li.querySelector(`[data-k="${key}"]`);
    } else if (field) {
      target = form.querySelector(`[data-error-for="${field}"]`) ||
               form.querySelector(`[data-error-for="${field.split(".").slice(0, 2).join(".")}"]`);
      input = field === "name" ? $("c-name") : form.querySelector(`[data-setting="${field.replace("settings.", "")}"]`);
    }
    if (!target) target = $("form-error");
    // The API prefixes messages with the field path; beside the field that is noise.
    target.textContent = field && message.startsWith(field + ": ") ? message.slice(field.length + 2) : message;
    target.hidden = false;
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); } else target.scrollIntoView({block: "center"});
  }

  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    clearErrors();
    const body = {name: $("c-name").value.trim(), settings: settingsPayload(), steps: stepsPayload(true)};
    $("save").disabled = true;
    try {
      const saved = campaignId ? await api("PATCH", "/campaigns/" + campaignId, body)
                               : await api("POST", "/campaigns", body);
      if (!campaignId) { window.location.assign("/campaigns/" + saved.id + "?saved=1"); return; }
      saved.steps.forEach((row, i) => { if (steps[i]) steps[i].id = row.id; });
      $("save-state").textContent = "Saved";
      toast("Campaign saved", "ok");
      document.dispatchEvent(new CustomEvent("stepline:campaign-saved", {detail: saved}));
    } catch (e) {
      $("save-state").textContent = "Not saved";
      showError(e.field, e.message);
    } finally { $("save").disabled = false; }
  });

  // ------------------------------------------------------------ merge-field preview
  function schedulePreview(li, s) {
    clearTimeout(li._previewTimer);
    li._previewTimer = setTimeout(() => preview(li, s), 250);
  }
  async function preview(li, s) {
    let subject = s.subject, body = s.body_html;
    if (s.mode === "template") {
      const t = templates.find(x => x.id === s.template_id);
      subject = t ? t.subject : ""; body = t ? t.body_html : "";
    }
    const err = li.querySelector(".preview-error");
    if (!subject && !body) { li.querySelector(".preview-subject").textContent = ""; li.querySelector(".preview-body").srcdoc = ""; return; }
    try {
      const r = await api("POST", "/templates/preview", {subject, body_html: body});
      li.querySelector(".preview-subject").textContent = "Subject: " + r.subject;
      li.querySelector(".preview-body").srcdoc = r.body_html;
      err.hidden = true;
    } catch (e) { err.textContent = e.message; err.hidden = false; }
  }

  // ------------------------------------------------------------ timeline
  let timelineTimer = null, timelineSeq = 0, firstDraw = true;
  function scheduleTimeline() {
    clearTimeout(timelineTimer);
    timelineTimer = setTimeout(drawTimeline, 200);
  }
  function startInstant() { return localToInstant(($("t-start").value || todayLocal()) + "T08:00"); }
  function todayLocal() { return instantToLocal(new Date().toISOString()).slice(0, 10); }

  async function drawTimeline() {
    const seq = ++timelineSeq;
    const note = $("timeline-note"), box = $("timeline");
    if (!steps.length) { window.StepTimeline.drawTimeline(box, [], fmtTime); note.textContent = ""; return; }
    try {
      let data;
      if (firstDraw && campaignId) {
        data = await api("GET", `/campaigns/${campaignId}/timeline?start=${encodeURIComponent(startInstant())}&timezone=${encodeURIComponent(zone)}`);
      } else {
        data = await api("POST", "/campaigns/timeline-preview", {steps: stepsPayload(false), settings: settingsPayload(),
          start: startInstant(), timezone: zone});
      }
      firstDraw = false;
      if (seq !== timelineSeq) return;
      window.StepTimeline.drawTimeline(box, data.steps, fmtTime);
      box.classList.remove("stale");
      note.textContent = `Times in ${data.timezone || zone}. ✉ email, ☎ call, in InMail, ★ custom task; ↩ follow-up.`;
    } catch (e) {
      if (seq !== timelineSeq) return;
      box.classList.add("stale");
      note.textContent = "Timeline not updated: " + e.message;
    }
  }
  $("t-start").addEventListener("change", () => { firstDraw = false; scheduleTimeline(); });

  // ------------------------------------------------------------ load
  async function load() {
    try { templates = (await api("GET", "/templates")).templates; }
    catch (e) { toast("Could not load templates: " + e.message, "bad"); }
    $("t-start").value = todayLocal();
    if (initial) {
      $("c-name").value = initial.name;
      const st = initial.settings || {};
      for (const key of SETTINGS_BOOL) $("s-" + key).checked = !!st[key];
      $("s-holidays").value = st.holidays || "";
      $("s-timezone").value = st.timezone || "sender";
      $("s-on_reply").value = st.on_reply || "end";
      if (st.send_window) { $("s-window-start").value = st.send_window.start; $("s-window-end").value = st.send_window.end; }
      steps = initial.steps.map(fromApi);
      $("campaign-title").textContent = initial.name;
      if (new URLSearchParams(location.search).get("saved")) { $("save-state").textContent = "Saved"; }
    } else {
      steps = [newStep()];
    }
    render();
  }
  window.Builder = {campaignId, steps: () => steps};
  load();
})();
