// "Try it" on a deployment page: send the request to the live endpoint, show the answer.
(function () {
  const button = document.getElementById("try-send");
  if (!button) return;
  const status = document.getElementById("try-status");
  const output = document.getElementById("try-response");
  button.addEventListener("click", async function () {
    status.textContent = "Sending…";
    output.hidden = true;
    const started = performance.now();
    try {
      const response = await fetch(button.dataset.endpoint, {
        method: "POST",
        headers: {
          "Authorization": "Bearer " + document.getElementById("try-key").value.trim(),
          "Content-Type": "application/json",
        },
        body: document.getElementById("try-body").value,
        credentials: "omit",
      });
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
      const ms = Math.round(performance.now() - started);
      status.textContent = response.status + " " + response.statusText + " in " + ms + " ms";
      output.textContent = shown;
      output.hidden = false;
    } catch (error) {
      status.textContent = "The request could not be sent: " + error.message;
    }
  });
})();
