// riskapp live updates: an element with data-poll-url is replaced by what that URL returns, every
// data-poll-interval ms. The server stops the polling by returning markup without data-poll-url
// (e.g. once a run has finished), so no page keeps polling once nothing can change.
(function () {
  "use strict";

  function schedule(el) {
    var interval = parseInt(el.getAttribute("data-poll-interval") || "2000", 10);
    el._riskappTimer = window.setTimeout(function () { poll(el); }, interval);
  }

  function poll(el) {
    if (!document.body.contains(el)) { return; }
    var url = el.getAttribute("data-poll-url");
    fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        // A <template> parses any fragment in place, table rows included (a <div> would drop a <tr>).
        var holder = document.createElement("template");
        holder.innerHTML = html.trim();
        var fresh = holder.content.firstElementChild;
        if (!fresh) { return; }
        el.replaceWith(fresh);
        activate(fresh);
        document.dispatchEvent(new CustomEvent("riskapp:updated", { detail: { element: fresh } }));
      })
      .catch(function () { schedule(el); });
  }

  function activate(root) {
    if (root.matches && root.matches("[data-poll-url]")) { schedule(root); }
    root.querySelectorAll && root.querySelectorAll("[data-poll-url]").forEach(schedule);
  }

  document.addEventListener("DOMContentLoaded", function () {
    activate(document);
    // A link to a section (e.g. a check in the guide) opens the details inside it.
    var target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (target) { target.querySelectorAll("details").forEach(function (d) { d.open = true; }); }
    var orgSelect = document.querySelector("[data-switch-org]");
    if (orgSelect) {
      orgSelect.addEventListener("change", function () {
        var form = document.getElementById("org-switch");
        form.action = orgSelect.value;
        form.submit();
      });
    }
    document.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll("[data-copy]").forEach(function (el) {
      el.addEventListener("click", function () {
        var target = document.getElementById(el.getAttribute("data-copy"));
        if (target && navigator.clipboard) { navigator.clipboard.writeText(target.textContent.trim()); el.textContent = "Copied"; }
      });
    });
  });
})();
