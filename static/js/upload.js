// The Datasets page's upload: drag and drop onto the drop zone, then an upload that reports its
// progress. Without this script the form still posts normally.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const name = document.getElementById("dataset-name");
  const progress = document.getElementById("upload-progress");
  const bar = progress.querySelector("progress");
  const text = progress.querySelector(".progress-text");
  const error = document.getElementById("upload-error");

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i === 0 ? bytes : bytes.toFixed(1)) + " " + units[i];
  }

  function chosen() {
    const file = input.files[0];
    if (!file) return;
    zone.querySelector("strong").textContent = file.name;
    name.placeholder = file.name;
    error.hidden = true;
  }

  function fail(message) {
    progress.hidden = true;
    error.textContent = message;
    error.hidden = false;
    form.querySelector("button[type=submit]").disabled = false;
  }

  input.addEventListener("change", chosen);
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      chosen();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.files.length) { fail("Choose a file to upload."); return; }
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      const percent = Math.floor((e.loaded / e.total) * 100);
      bar.value = percent;
      text.textContent = size(e.loaded) + " of " + size(e.total) + " sent (" + percent + "%)";
    });
    request.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (ignored) { /* not JSON */ }
      if (request.status === 201 && body.url) {
        text.textContent = "Uploaded. Opening the dataset…";
        window.location.assign(body.url);
      } else {
        fail(body.error || "The upload failed (HTTP " + request.status + ").");
      }
    });
    request.addEventListener("error", function () {
      fail("The upload was interrupted: check the connection and try again.");
    });
    progress.hidden = false;
    error.hidden = true;
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
})();
