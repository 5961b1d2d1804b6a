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

  let pending = null;
  document.addEventListener("stepline:event", () => {
    clearTimeout(pending);
    pending = setTimeout(() => { if (!dialog.open) refresh(); }, 300);
  });
  refresh();
})();
