// Polls a debiasing run until it is done, failed or cancelled, then reloads the page
// once so the server renders the result (figures, chart, links); no framework needed.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var finished = function (s) { return s === "done" || s === "failed" || s === "cancelled"; };
  if (finished(box.dataset.status)) return;
  var poll = function () {
    fetch(box.dataset.url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var bar = document.getElementById("bar");
        bar.max = Math.max(p.total, 1);
        bar.value = p.done;
        document.getElementById("stage").textContent = p.stage + (p.total ? " " + p.done + "/" + p.total : "");
        var status = document.getElementById("status");
        status.textContent = p.status;
        status.className = "badge " + p.status;
        if (p.error) {
          var err = document.getElementById("error");
          err.textContent = p.error;  // textContent: the reason may quote user data
          err.hidden = false;
        }
        if (finished(p.status)) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  };
  poll();
})();
