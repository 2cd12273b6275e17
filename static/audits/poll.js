// Keeps a background job's box up to date without a framework: every element with
// data-poll="URL" fetches that JSON ({status, stage, done, total, error, reload_key})
// until the job ends, filling its [data-field] children; the page reloads, so the
// server renders the result, when the job ends or its reload_key changes (the demo's
// audit appearing, a report signed).
(function () {
  "use strict";
  var finished = function (s) { return s === "done" || s === "failed" || s === "cancelled"; };
  var watch = function (box) {
    if (finished(box.dataset.status)) return;
    var field = function (name) { return box.querySelector("[data-field=" + name + "]"); };
    var poll = function () {
      fetch(box.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (p) {
          var changed = box.dataset.reloadKey && p.reload_key && p.reload_key !== box.dataset.reloadKey;
          if (finished(p.status) || changed) { window.location.reload(); return; }
          var stage = field("stage"), bar = field("bar"), err = field("error");
          // textContent: a stage or an error may quote user data.
          if (stage) stage.textContent = p.stage + (p.total ? " (" + p.done + " of " + p.total + ")" : "");
          if (bar) { bar.max = Math.max(p.total || 0, 1); bar.value = p.done || 0; }
          if (err && p.error) { err.textContent = p.error; err.hidden = false; }
          window.setTimeout(poll, 1500);
        })
        .catch(function () { window.setTimeout(poll, 4000); });
    };
    window.setTimeout(poll, 1000);
  };
  Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), watch);
})();
