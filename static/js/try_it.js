// "Try it" on a deployment page: send the request to the live endpoint, show the answer and,
// as bars, what moved the first row's answer (the endpoint's reason codes).
(function () {
  const button = document.getElementById("try-send");
  if (!button) return;
  const status = document.getElementById("try-status");
  const output = document.getElementById("try-response");
  const reasons = document.getElementById("try-reasons");

  function showReasons(explanation) {
    reasons.replaceChildren();
    if (!explanation) { reasons.hidden = true; return; }
    const heading = document.createElement("p");
    const what = explanation.explained === null ? "the prediction" : "the probability of " + explanation.explained;
    heading.textContent = "Why: " + what + " is " + explanation.output.toFixed(3) +
      ", from " + explanation.base.toFixed(3) + " for an average row";
    reasons.append(heading);
    const largest = Math.max(...explanation.contributions.map((r) => Math.abs(r.contribution)), 1e-12);
    for (const reason of explanation.contributions) {
      const row = document.createElement("div");
      row.className = "reason";
      const label = document.createElement("span");
      label.textContent = reason.column + " = " + JSON.stringify(reason.value);
      const bar = document.createElement("span");
      bar.className = "reason-bar " + (reason.contribution >= 0 ? "up" : "down");
      bar.style.width = (50 * Math.abs(reason.contribution) / largest) + "%";
      const value = document.createElement("span");
      value.textContent = (reason.contribution >= 0 ? "+" : "") + reason.contribution.toFixed(3);
      row.append(label, bar, value);
      reasons.append(row);
    }
    reasons.hidden = false;
  }

  button.addEventListener("click", async function () {
    status.textContent = "Sending…";
    output.hidden = true;
    const started = performance.now();
    try {
      const response = await fetch(button.dataset.endpoint + "?explain=true", {
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
      let explanation = null;
      try {
        const body = JSON.parse(text);
        shown = JSON.stringify(body, null, 2);
        explanation = (body.explanations || [])[0] || null;
      } catch (e) { /* not JSON */ }
      showReasons(explanation);
      const ms = Math.round(performance.now() - started);
      status.textContent = response.status + " " + response.statusText + " in " + ms + " ms";
      output.textContent = shown;
      output.hidden = false;
    } catch (error) {
      status.textContent = "The request could not be sent: " + error.message;
    }
  });
})();
