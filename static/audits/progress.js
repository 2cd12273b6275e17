// Polls a job's progress (an audit or a debiasing run) until it ends; no framework needed.
// An audit page fills in its verdict; a page with data-on-end="reload" reloads once so
// the server renders the result (figures, chart, links).
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
        // A finished job's badge says it all ("Done"); its last stage would repeat it ("done").
        document.getElementById("stage").textContent = finished(p.status) ? "" :
          p.stage + (p.total ? " " + p.done + "/" + p.total : "");
        var status = document.getElementById("status");
        status.textContent = p.status;
        status.className = "badge " + p.status;
        if (p.error) {
          var err = document.getElementById("error");
          err.textContent = p.error;  // textContent: the reason may quote user data
          err.hidden = false;
        }
        if (!finished(p.status)) { window.setTimeout(poll, 1000); return; }
        if (box.dataset.onEnd === "reload") { window.location.reload(); return; }
        if (p.status === "done") {
          var verdict = document.getElementById("verdict");
          verdict.textContent = p.verdict;
          verdict.className = "badge " + p.verdict;
          document.getElementById("done").hidden = false;
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  };
  poll();
})();
