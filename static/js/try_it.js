// "Try it" on a deployment page: a form with one field per column (or a JSON body) sent to the
// live endpoint; the answer is shown as the prediction, its probabilities and, as bars, what
// moved it (the endpoint's reason codes).
(function () {
  const form = document.getElementById("try-form");
  if (!form) return;
  const status = document.getElementById("try-status");
  const answer = document.getElementById("try-answer");
  const output = document.getElementById("try-response");
  const reasons = document.getElementById("try-reasons");
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // A date from a date input ("2024-07-21"), written as the training file wrote dates.
  function written(value, format) {
    if (!value || !format || format === "ISO8601") return value;
    const [year, month, day] = value.split("-");
    const parts = { "%Y": year, "%m": month, "%d": day, "%b": months[Number(month) - 1],
                    "%H": "00", "%M": "00", "%S": "00" };
    return format.replace(/%[YmdbHMS]/g, (directive) => parts[directive]);
  }

  function row() {
    const values = {};
    for (const field of form.querySelectorAll("[data-column]")) {
      const raw = field.value.trim();
      const kind = field.dataset.kind;
      let value = raw === "" ? null : raw;
      if (value !== null && kind === "numeric") value = Number(raw);
      if (value !== null && kind === "boolean") value = raw === "true";
      if (value !== null && kind === "datetime" && field.type === "date") {
        value = written(raw, field.dataset.format);
      }
      values[field.dataset.column] = value;
    }
    return { rows: [values] };
  }

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
      const line = document.createElement("div");
      line.className = "reason";
      const label = document.createElement("span");
      label.textContent = reason.column + " = " + JSON.stringify(reason.value);
      const bar = document.createElement("span");
      bar.className = "reason-bar " + (reason.contribution >= 0 ? "up" : "down");
      bar.style.width = (50 * Math.abs(reason.contribution) / largest) + "%";
      const value = document.createElement("span");
      value.textContent = (reason.contribution >= 0 ? "+" : "") + reason.contribution.toFixed(3);
      line.append(label, bar, value);
      reasons.append(line);
    }
    reasons.hidden = false;
  }

  function showAnswer(body) {
    answer.replaceChildren();
    if (!body || !body.predictions) { answer.hidden = true; return; }
    const prediction = document.createElement("p");
    prediction.className = "try-prediction";
    prediction.textContent = "Prediction: " + body.predictions[0];
    answer.append(prediction);
    const probabilities = (body.probabilities || [])[0];
    if (probabilities) {
      const list = document.createElement("dl");
      list.className = "try-probabilities";
      for (const [label, probability] of Object.entries(probabilities)) {
        const term = document.createElement("dt");
        term.textContent = label;
        const meter = document.createElement("dd");
        const bar = document.createElement("span");
        bar.className = "reason-bar up";
        bar.style.width = (100 * probability) + "%";
        const figure = document.createElement("span");
        figure.textContent = (100 * probability).toFixed(1) + " %";
        meter.append(bar, figure);
        list.append(term, meter);
      }
      answer.append(list);
    }
    answer.hidden = false;
  }

  async function send(body) {
    status.textContent = "Sending…";
    const started = performance.now();
    try {
      const response = await fetch(form.dataset.endpoint + "?explain=true", {
        method: "POST",
        headers: {
          "Authorization": "Bearer " + document.getElementById("try-key").value.trim(),
          "Content-Type": "application/json",
        },
        body: body,
        credentials: "omit",
      });
      const text = await response.text();
      let shown = text;
      let parsed = null;
      try {
        parsed = JSON.parse(text);
        shown = JSON.stringify(parsed, null, 2);
      } catch (e) { /* not JSON */ }
      const ok = response.ok && parsed;
      showAnswer(ok ? parsed : null);
      showReasons(ok ? (parsed.explanations || [])[0] || null : null);
      const ms = Math.round(performance.now() - started);
      let said = response.status + " " + response.statusText + " in " + ms + " ms";
      if (!response.ok && parsed && parsed.detail) said += ": " + parsed.detail;
      status.textContent = said;
      output.textContent = shown;
      document.getElementById("try-raw").hidden = false;
    } catch (error) {
      status.textContent = "The request could not be sent: " + error.message;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const body = JSON.stringify(row(), null, 2);
    document.getElementById("try-body").value = body;
    send(body);
  });
  document.getElementById("try-send-json").addEventListener("click", function () {
    send(document.getElementById("try-body").value);
  });
})();
