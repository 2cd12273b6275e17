// Progressive enhancement of forms; without this script every form still works.
// - A form marked data-submit-once disables its buttons once sent: one click, one request
//   (the server refuses a second one anyway).
// - A file upload (enctype multipart/form-data) is sent with XMLHttpRequest so a progress
//   bar shows how much has gone; the server's answer (the next page, or the form with its
//   errors) then replaces the page, and the address follows any redirect.
(function () {
  "use strict";
  var disable = function (form) {
    Array.prototype.forEach.call(form.querySelectorAll("button, input[type=submit]"), function (b) {
      b.disabled = true;
    });
  };
  var showPage = function (xhr) {
    var url = xhr.responseURL || window.location.href;
    document.open();
    document.write(xhr.responseText);
    document.close();
    if (url !== window.location.href) window.history.replaceState(null, "", url);
  };
  var upload = function (form, event) {
    if (!window.XMLHttpRequest || !window.FormData) return;
    event.preventDefault();
    var box = document.createElement("p");
    box.className = "upload-progress";
    box.setAttribute("role", "status");
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.setAttribute("aria-label", "Upload progress");
    var label = document.createElement("span");
    label.textContent = "Uploading…";
    box.appendChild(label);
    box.appendChild(bar);
    form.appendChild(box);
    disable(form);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      label.textContent = e.loaded < e.total
        ? "Uploading: " + bar.value + " % of " + (e.total / 1048576).toFixed(1) + " MB"
        : "Uploaded; checking the file…";
    };
    xhr.onload = function () { showPage(xhr); };
    xhr.onerror = function () {
      label.textContent = "The upload failed (connection lost). Choose the file again and retry.";
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = false; });
    };
    xhr.send(new FormData(form));
  };
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    form.addEventListener("submit", function (event) {
      if (form.enctype === "multipart/form-data" && form.querySelector("input[type=file]")) {
        upload(form, event);
      } else if (form.hasAttribute("data-submit-once")) {
        // After the browser has taken the form's values: disabled buttons are not sent.
        window.setTimeout(function () { disable(form); }, 0);
      }
    });
  });
})();
