/* Person page: pause / resume / remove an enrollment, and unsubscribe (through the API). */
(function () {
  "use strict";
  const {api, toast} = window.Stepline;
  document.addEventListener("click", async ev => {
    const verb = ev.target.dataset.enrollmentAction;
    if (verb) {
      const row = ev.target.closest("[data-enrollment-id]");
      try {
        const result = await api("POST", `/enrollments/${row.dataset.enrollmentId}/${verb}`);
        row.querySelector(".state").textContent = result.state;
        toast("Enrollment " + result.state, "ok");
      } catch (e) { toast(e.message, "bad"); }
    }
    if (ev.target.id === "unsubscribe") {
      if (!confirm("Unsubscribe this person? Every enrollment ends and no email will be sent to them again.")) return;
      try {
        await api("POST", `/people/${ev.target.dataset.personId}/unsubscribe`);
        location.reload();
      } catch (e) { toast(e.message, "bad"); }
    }
  });
})();
