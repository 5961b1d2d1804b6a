/*
 * Stepline task pane for Outlook.
 *
 * Lists the rep's tasks due today and overdue (the server sorts email tasks first). "Open" hands
 * the email to Outlook's own compose window, so the rep edits and sends it with their normal
 * signature, from their own mailbox. Outlook tells an add-in nothing when that window is sent, so
 * "Mark as sent" is what completes the task in Stepline.
 *
 * No framework and no build step: the file is served as is. Task data is inserted with
 * textContent only, never as HTML, so a template cannot inject script into the pane.
 */
(function () {
  "use strict";

  // Limits of displayNewMessageForm / displayReplyForm (Office.js reference, Mailbox 1.6).
  var SUBJECT_MAX_CHARS = 255;
  var BODY_MAX_BYTES = 32 * 1024;

  var config = JSON.parse(document.getElementById("stepline-config").textContent);
  var els = {};
  var tasks = [];
  var opened = {}; // task id -> true once Open was used, to point at "Mark as sent"
  var busy = {};
  var pcaPromise = null;

  // ---- sign-in --------------------------------------------------------------------------------

  function naaAvailable() {
    return !!(window.msal && window.msal.createNestablePublicClientApplication && config.clientId && config.apiScope);
  }

  /* Nested App Authentication: Outlook itself signs the rep in; MSAL asks it for a token to
     Stepline's API. Silent first (no UI when Outlook already has consent), then a popup. */
  async function tokenFromMsal() {
    if (!pcaPromise) {
      pcaPromise = window.msal.createNestablePublicClientApplication({
        auth: { clientId: config.clientId, authority: config.authority }
      });
    }
    var pca = await pcaPromise;
    var request = { scopes: [config.apiScope] };
    try {
      return (await pca.acquireTokenSilent(request)).accessToken;
    } catch (silentError) {
      console.info("Stepline: silent sign-in failed, asking with a popup", silentError);
      return (await pca.acquireTokenPopup(request)).accessToken;
    }
  }

  /* Older Outlook builds without NAA: Office's own SSO (needs WebApplicationInfo in the manifest). */
  function tokenFromOffice() {
    return Office.auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true });
  }

  async function getToken() {
    if (naaAvailable()) {
      try {
        return await tokenFromMsal();
      } catch (naaError) {
        console.warn("Stepline: nested app authentication failed, trying Office SSO", naaError);
      }
    }
    if (window.Office && Office.auth && typeof Office.auth.getAccessToken === "function") {
      try {
        return await tokenFromOffice();
      } catch (ssoError) {
        var failure = new Error("Microsoft sign-in failed" + (ssoError && ssoError.code ? " (" + ssoError.code + ")" : "") + ".");
        failure.signIn = true;
        throw failure;
      }
    }
    var none = new Error("This Outlook offers no Microsoft sign-in to add-ins.");
    none.signIn = true;
    throw none;
  }

  async function api(method, path) {
    var token = await getToken();
    var response = await fetch(config.apiBase + path, {
      method: method,
      headers: { Authorization: "Bearer " + token, Accept: "application/json" }
    });
    var body = null;
    try {
      body = await response.json();
    } catch (notJson) {
      body = null;
    }
    if (!response.ok) {
      var message = body && body.error && body.error.message ? body.error.message : "Stepline answered HTTP " + response.status + ".";
      var error = new Error(message);
      error.status = response.status;
      error.signIn = response.status === 401;
      throw error;
    }
    return body;
  }

  // ---- composing in Outlook -------------------------------------------------------------------

  function isFollowUp(task) {
    return !!(task.email && task.email.thread && task.email.thread.in_reply_to);
  }

  function bareMessageId(id) {
    return String(id || "").trim().replace(/^</, "").replace(/>$/, "");
  }

  /* The message in the reading pane, when it is the email this follow-up answers. */
  function replyTarget(task) {
    if (!isFollowUp(task)) return null;
    var mailbox = window.Office && Office.context && Office.context.mailbox;
    var item = mailbox && mailbox.item;
    if (!item || typeof item.displayReplyForm !== "function" || !item.internetMessageId) return null;
    return bareMessageId(item.internetMessageId) === bareMessageId(task.email.thread.in_reply_to) ? item : null;
  }

  function reSubject(subject) {
    return /^\s*re\s*:/i.test(subject) ? subject : "Re: " + subject;
  }

  /* What Open will ask Outlook for: a reply in the thread when the previous email is the
     selected message (Outlook quotes it and keeps the thread), else a new message. */
  function composition(task) {
    var email = task.email;
    var body = email.body_html || "";
    var item = replyTarget(task);
    if (item) {
      return { kind: "reply", item: item, args: { htmlBody: body } };
    }
    var subject = email.subject || "";
    var quoted = isFollowUp(task) && !!email.quoted_html;
    if (isFollowUp(task)) {
      subject = reSubject(subject);
      body = body + (email.quoted_html || "");
    }
    return { kind: "new", quoted: quoted, args: { toRecipients: (email.to || []).slice(), subject: subject, htmlBody: body } };
  }

  function limitProblem(c) {
    var subject = c.args.subject;
    if (subject !== undefined && subject.length > SUBJECT_MAX_CHARS) {
      return "This email's subject has " + subject.length + " characters, but Outlook accepts at most " +
        SUBJECT_MAX_CHARS + " from an add-in. Shorten it in Stepline, then choose Open again.";
    }
    var bytes = new TextEncoder().encode(c.args.htmlBody).length;
    if (bytes > BODY_MAX_BYTES) {
      return "This email's body is " + Math.ceil(bytes / 1024) + " KB, but Outlook accepts at most 32 KB from an add-in" +
        (c.quoted ? " (the quoted earlier email counts too)" : "") +
        ". Shorten it in Stepline, then choose Open again.";
    }
    return null;
  }

  function openTask(task) {
    var c = composition(task);
    var problem = limitProblem(c);
    if (problem) {
      showStatus(problem, "error");
      return;
    }
    try {
      if (c.kind === "reply") {
        c.item.displayReplyForm(c.args);
      } else {
        Office.context.mailbox.displayNewMessageForm(c.args);
      }
    } catch (officeError) {
      showStatus("Outlook could not open the compose window: " + (officeError.message || officeError), "error");
      return;
    }
    opened[task.id] = true;
    render();
    showStatus((c.kind === "reply" ? "Reply opened in the thread." : "Compose window opened.") +
      " After you send it, choose Mark as sent.");
  }

  // ---- complete / skip ------------------------------------------------------------------------

  async function finish(task, action, doneMessage) {
    busy[task.id] = true;
    render();
    try {
      await api("POST", "/tasks/" + encodeURIComponent(task.id) + "/" + action);
      tasks = tasks.filter(function (t) { return t.id !== task.id; });
      delete opened[task.id];
      showStatus(doneMessage + ": " + task.title);
    } catch (error) {
      showError(error);
    } finally {
      delete busy[task.id];
      render();
    }
  }

  // ---- rendering ------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(label, action, task, primary) {
    var b = el("button", primary ? "primary" : "", label);
    b.type = "button";
    b.dataset.action = action;
    b.dataset.taskId = String(task.id);
    b.disabled = !!busy[task.id];
    return b;
  }

  function personLine(person) {
    if (!person) return "";
    var name = [person.first_name, person.last_name].filter(Boolean).join(" ");
    var line = name ? name + " <" + person.email + ">" : person.email;
    return person.company ? line + " · " + person.company : line;
  }

  function card(task) {
    var li = el("li", "task" + (task.due_state === "overdue" ? " overdue" : "") + (opened[task.id] ? " opened" : ""));
    li.dataset.taskId = String(task.id);

    var meta = el("div", "meta");
    meta.appendChild(el("span", "badge type type-" + task.type, task.type));
    meta.appendChild(el("span", "badge due", task.due_state === "overdue" ? "Overdue · " + task.due_date : "Today"));
    if (task.priority === "high") meta.appendChild(el("span", "badge high", "High priority"));
    li.appendChild(meta);

    li.appendChild(el("h2", "title", task.title));
    li.appendChild(el("p", "person", personLine(task.person)));
    if (task.campaign) li.appendChild(el("p", "campaign", task.campaign.name));
    if (task.notes) li.appendChild(el("p", "notes", task.notes));

    var actions = el("div", "actions");
    if (task.type === "email" && task.email) {
      li.appendChild(el("p", "subject", task.email.subject));
      var reply = replyTarget(task);
      if (isFollowUp(task) && !reply) {
        li.appendChild(el("p", "hint", "Follow-up: select the earlier email first to reply in its thread. " +
          "Otherwise Open starts a new message with the earlier email quoted."));
      }
      actions.appendChild(button(reply ? "Reply in thread" : "Open", "open", task, !opened[task.id]));
      actions.appendChild(button("Mark as sent", "sent", task, !!opened[task.id]));
    } else {
      actions.appendChild(button("Complete", "complete", task, true));
    }
    actions.appendChild(button("Skip", "skip", task, false));
    li.appendChild(actions);
    return li;
  }

  function render() {
    els.list.textContent = "";
    tasks.forEach(function (task) { els.list.appendChild(card(task)); });
    els.empty.hidden = tasks.length > 0 || !els.loaded;
  }

  function showStatus(message, kind) {
    els.status.textContent = message || "";
    els.status.className = "status" + (kind ? " " + kind : "");
  }

  function showError(error) {
    showStatus(error.message || String(error), "error");
    els.signin.hidden = !error.signIn;
  }

  // ---- start ----------------------------------------------------------------------------------

  async function load() {
    showStatus("Loading your tasks…");
    try {
      var data = await api("GET", "/tasks");
      tasks = data.tasks || [];
      els.loaded = true;
      els.signin.hidden = true;
      if (data.user) {
        els.who.textContent = "Signed in as " + (data.user.name ? data.user.name + " (" + data.user.email + ")" : data.user.email);
        els.who.hidden = false;
      }
      render();
      showStatus(tasks.length ? tasks.length + (tasks.length === 1 ? " task" : " tasks") + " due." : "");
    } catch (error) {
      showError(error);
    }
  }

  function onAction(event) {
    var target = event.target.closest("button[data-action]");
    if (!target) return;
    var task = tasks.find(function (t) { return String(t.id) === target.dataset.taskId; });
    if (!task || busy[task.id]) return;
    var action = target.dataset.action;
    if (action === "open") openTask(task);
    else if (action === "sent") finish(task, "complete", "Marked as sent");
    else if (action === "complete") finish(task, "complete", "Completed");
    else if (action === "skip") finish(task, "skip", "Skipped");
  }

  function start() {
    els = {
      list: document.getElementById("tasks"),
      status: document.getElementById("status"),
      empty: document.getElementById("empty"),
      who: document.getElementById("who"),
      signin: document.getElementById("signin"),
      loaded: false
    };
    els.list.addEventListener("click", onAction);
    document.getElementById("refresh").addEventListener("click", load);
    document.getElementById("signin-button").addEventListener("click", load);
    var mailbox = Office.context && Office.context.mailbox;
    if (mailbox && typeof mailbox.addHandlerAsync === "function" && Office.EventType && Office.EventType.ItemChanged) {
      // A pinned pane stays open while the rep selects other messages: re-check follow-up replies.
      mailbox.addHandlerAsync(Office.EventType.ItemChanged, render);
    }
    load();
  }

  if (window.Office && typeof Office.onReady === "function") {
    Office.onReady(start);
  } else {
    document.getElementById("status").textContent = "Open this pane from Outlook: Office.js did not load.";
  }
})();
