// The register's page: new surge alerts show without a reload (polled).
(function () {
  "use strict";
  var section = document.getElementById("alerts");
  var note = document.getElementById("alerts-new");
  if (!section || !note) { return; }
  var shown = {};
  section.querySelectorAll("[data-alert]").forEach(function (el) {
    shown[el.getAttribute("data-alert")] = true;
  });
  function poll() {
    fetch("/outages/alerts.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var fresh = body.alerts.some(function (a) { return !shown[String(a.id)]; });
        note.hidden = !fresh;
        section.setAttribute("data-fresh", fresh ? "1" : "0");
      })
      .catch(function () { /* the next poll tries again */ });
  }
  setInterval(poll, 15000);
})();
