/* Command Center: the rep's tasks (overdue / today / upcoming), emails (scheduled / sent /
   failed), quick actions, and the compose window for email tasks. Everything goes through
   /api/v1 so the rules live in one place. */
(function () {
  "use strict";
  const {api, toast, el, fmtInstant, localToInstant, instantToLocal, zone, safeHtml} = window.Stepline;
  const tasksById = new Map();

  function personName(p) {
    return [p.first_name, p.last_name].filter(Boolean).join(" ") || p.email;
  }

  async function act(label, fn) {
    try { await fn(); toast(label, "ok"); await refresh(); }
    catch (e) { toast(e.message, "bad"); }
  }

  /** Pause or resume (whichever applies) and remove the enrollment behind a task or email. */
  function enrollmentButtons(enrollmentId, paused) {
    if (!enrollmentId) return [];
    const make = (verb, label, done) => el("button", {type: "button", class: "ghost small",
      "aria-label": label + " the enrollment", title: label + " this person's enrollment in the campaign",
      onclick: () => act("Enrollment " + done, () => api("POST", `/enrollments/${enrollmentId}/${verb}`))}, label);
    return [paused ? make("resume", "Resume", "resumed") : make("pause", "Pause", "paused"),
            make("remove", "Remove", "removed")];
  }

  function taskItem(t) {
    tasksById.set(t.id, t);
    const who = personName(t.person);
    const actions = el("div", {class: "actions"},
      t.type === "email" ? el("button", {type: "button", onclick: () => openCompose(t.id),
        "aria-label": "Open email to " + who}, "Open") : null,
      el("button", {type: "button", class: "secondary small", "aria-label": "Complete: " + t.title,
        onclick: () => act("Task completed", () => api("POST", `/tasks/${t.id}/complete`))}, "Complete"),
      el("button", {type: "button", class: "ghost small", "aria-label": "Skip: " + t.title,
        onclick: () => act("Task skipped", () => api("POST", `/tasks/${t.id}/skip`))}, "Skip"),
      el("button", {type: "button", class: "ghost small", "aria-label": "Reschedule: " + t.title,
        onclick: () => openReschedule({kind: "task", id: t.id, label: t.title, due: t.due_date})}, "Reschedule"),
      ...enrollmentButtons(t.enrollment_id));
    return el("li", {class: "item task", "data-task-id": t.id},
      el("div", {class: "item-main"},
        el("span", {class: "type-badge type-" + t.type}, t.type),
        t.priority === "high" ? el("span", {class: "badge warn"}, "high") : null,
        el("strong", {}, " " + t.title),
        el("div", {class: "muted small"},
          el("a", {href: "/people/" + t.person.id}, who), " · " + t.person.email,
          t.campaign ? " · " + t.campaign.name : "", " · due " + t.due_date)),
      actions);
  }

  function emailItem(e, status) {
    const actions = el("div", {class: "actions"},
      status === "failed" ? el("button", {type: "button", "aria-label": "Retry email " + e.subject,
        onclick: () => act("Email scheduled again", () => api("POST", `/emails/${e.id}/retry`))}, "Retry") : null,
      // Only what the worker has not claimed yet can move (not sending, nor held by a pause).
      e.status === "scheduled" || e.status === "pending" ? el("button", {type: "button", class: "ghost small",
        "aria-label": "Reschedule email " + (e.subject || ""),
        onclick: () => openReschedule({kind: "email", id: e.id, label: e.subject || "(no subject)", due: e.due_at})},
        "Reschedule") : null,
      ...(status === "scheduled" ? enrollmentButtons(e.enrollment_id, e.status === "paused") : []));
    const when = status === "sent" ? "sent " + fmtInstant(e.sent_at) : "due " + fmtInstant(e.due_at);
    return el("li", {class: "item email", "data-email-id": e.id},
      el("div", {class: "item-main"},
        el("strong", {}, e.subject || "(no subject)"),
        el("div", {class: "muted small"}, "to " + e.to + " · " + when + (e.follow_up ? " · follow-up" : "") +
          (status === "scheduled" && e.status !== "scheduled" ? " · " + e.status : "")),
        e.failure_reason ? el("div", {class: status === "failed" ? "error small" : "warn small"},
          (status === "failed" ? "Failed: " : "Last attempt: ") + e.failure_reason) : null),
      actions);
  }

  function fill(list, items, render, emptyText) {
    list.replaceChildren(...(items.length ? items.map(render) : [el("li", {class: "muted"}, emptyText)]));
  }

  async function refresh() {
    try {
      const groups = ["overdue", "today", "upcoming"];
      const statuses = ["scheduled", "sent", "failed"];
      const [taskLists, emailLists, paused] = await Promise.all([
        Promise.all(groups.map(g => api("GET", "/tasks?status=open&due=" + g))),
        Promise.all(statuses.map(s => api("GET", "/emails?status=" + s + "&limit=50"))),
        api("GET", "/enrollments?state=paused"),
      ]);
      // A paused enrollment's tasks are held back from the queue; this is where it is resumed.
      const mine = paused.enrollments;
      fill(document.querySelector("[data-paused]"), mine, e => el("li", {class: "item", "data-enrollment-id": e.id},
        el("div", {class: "item-main"}, el("strong", {}, e.person_email), el("div", {class: "muted small"}, e.campaign_name)),
        el("div", {class: "actions"}, ...enrollmentButtons(e.id, true))), "Nothing paused.");
      document.querySelector('[data-count="paused"]').textContent = mine.length;
      groups.forEach((g, i) => {
        const tasks = taskLists[i].tasks;
        fill(document.querySelector(`[data-tasks="${g}"]`), tasks, taskItem, "Nothing " + g + ".");
        document.querySelector(`[data-count="${g}"]`).textContent = tasks.length;
      });
      statuses.forEach((s, i) => {
        const emails = emailLists[i].emails;
        fill(document.querySelector(`[data-emails="${s}"]`), emails, e => emailItem(e, s), "No " + s + " emails.");
        document.querySelector(`[data-count="${s}"]`).textContent = emails.length;
      });
    } catch (e) { toast("Could not load the Command Center: " + e.message, "bad"); }
  }

  // ------------------------------------------------------------------ compose window
  const dialog = document.getElementById("compose");
  const $ = id => document.getElementById(id);
  let current = null;
  let opener = null;

  function showFieldError(id, message) {
    const node = $(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  function openCompose(taskId) {
    const t = tasksById.get(taskId);
    if (!t || !t.email) return;
    current = t;
    opener = document.activeElement;
    $("compose-h").textContent = "Email " + personName(t.person);
    $("compose-context").textContent = (t.campaign ? t.campaign.name + " · " : "") + t.title;
    $("compose-to").value = (t.email.to || [t.person.email]).join(", ");
    $("compose-subject").value = t.email.subject || "";
    $("compose-body").innerHTML = safeHtml(t.email.body_html);
    const quoted = t.email.quoted_html;
    $("compose-quoted-wrap").hidden = !quoted;
    $("compose-quoted").innerHTML = safeHtml(quoted);
    const inAnHour = new Date(Date.now() + 3600 * 1000).toISOString();
    $("compose-when").value = instantToLocal(inAnHour);
    document.querySelectorAll("#compose .zone").forEach(n => { n.textContent = zone; });
    ["compose-subject-error", "compose-when-error", "compose-error"].forEach(id => showFieldError(id, ""));
    dialog.showModal();
    $("compose-subject").focus();
  }

  async function send(schedule) {
    if (!current) return;
    const body = {subject: $("compose-subject").value, body_html: $("compose-body").innerHTML};
    if (schedule) {
      const sendAt = localToInstant($("compose-when").value);
      if (!sendAt) { showFieldError("compose-when-error", "Pick a date and time to schedule the email."); return; }
      body.send_at = sendAt;
    }
    try {
      const result = await api("POST", `/tasks/${current.id}/send`, body);
      dialog.close();
      toast(schedule ? "Email scheduled for " + fmtInstant(result.due_at) : "Email is on its way", "ok");
      current = null;
      await refresh();
    } catch (e) {
      const target = {subject: "compose-subject-error", send_at: "compose-when-error"}[e.field];
      showFieldError(target || "compose-error", e.message);
    }
  }

  $("compose-send").addEventListener("click", () => send(false));
  $("compose-schedule").addEventListener("click", () => send(true));
  $("compose-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { if (opener && opener.focus) opener.focus(); });
  $("refresh").addEventListener("click", refresh);

  // ------------------------------------------------------------------ reschedule dialog
  // Emails get a date and time read in the rep's zone; tasks a day. The API judges the value
  // (past, claimed by the worker, not open) and its message is shown beside the field.
  const moveDialog = $("reschedule");
  let moving = null;
  let moveOpener = null;

  function openReschedule(item) {
    moving = item;
    moveOpener = document.activeElement;
    const email = item.kind === "email";
    $("reschedule-h").textContent = email ? "Reschedule email" : "Reschedule task";
    $("reschedule-context").textContent = item.label + " · now due " + (email ? fmtInstant(item.due) : item.due);
    $("reschedule-when-wrap").hidden = !email;
    $("reschedule-date-wrap").hidden = email;
    if (email) $("reschedule-when").value = instantToLocal(item.due);
    else $("reschedule-date").value = item.due;
    moveDialog.querySelectorAll(".zone").forEach(n => { n.textContent = zone; });
    ["reschedule-field-error", "reschedule-error"].forEach(id => showFieldError(id, ""));
    moveDialog.showModal();
    $(email ? "reschedule-when" : "reschedule-date").focus();
  }

  async function saveReschedule(event) {
    event.preventDefault();
    if (!moving) return;
    const email = moving.kind === "email";
    const value = email ? localToInstant($("reschedule-when").value) : $("reschedule-date").value;
    if (!value) {
      showFieldError("reschedule-field-error", email ? "Pick a date and time." : "Pick a date.");
      return;
    }
    try {
      const result = email
        ? await api("POST", `/emails/${moving.id}/reschedule`, {due_at: value})
        : await api("POST", `/tasks/${moving.id}/reschedule`, {due_date: value});
      moveDialog.close();
      toast(email ? "Email rescheduled for " + fmtInstant(result.due_at) : "Task moved to " + result.due_date, "ok");
      moving = null;
      await refresh();
    } catch (e) {
      const onField = e.field === "due_at" || e.field === "due_date";
      showFieldError(onField ? "reschedule-field-error" : "reschedule-error", e.message);
    }
  }

  $("reschedule-form").addEventListener("submit", saveReschedule);
  ["reschedule-when", "reschedule-date"].forEach(id =>
    $(id).addEventListener("input", () => showFieldError("reschedule-field-error", "")));
  $("reschedule-cancel").addEventListener("click", () => moveDialog.close());
  moveDialog.addEventListener("close", () => { if (moveOpener && moveOpener.focus) moveOpener.focus(); });

  let pending = null;
  document.addEventListener("stepline:event", () => {
    clearTimeout(pending);
    pending = setTimeout(() => { if (!dialog.open && !moveDialog.open) refresh(); }, 300);
  });
  refresh();
})();
