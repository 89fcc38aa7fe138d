// Behaviour every page shares, in one file so that no page needs inline script (the
// Content-Security-Policy forbids it):
//   <form data-confirm="Delete this?">   asks before submitting
//   <select data-autosubmit>            submits its form when changed
//   <select data-reveals="id">           shows the button "id" (data-hidden-until-change) when
//                                        changed, so that a change is saved only when asked
//   <input data-select-on-focus>        selects its text when clicked, for copying a key
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // Without script the buttons stay visible: the form still saves.
  for (const button of document.querySelectorAll("[data-hidden-until-change]")) button.hidden = true;
  document.addEventListener("htmx:afterSwap", function () {
    for (const button of document.querySelectorAll("[data-hidden-until-change]")) button.hidden = true;
  });
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field.matches && field.matches("select[data-autosubmit]") && field.form) {
      field.form.requestSubmit();
    }
    if (field.matches && field.matches("select[data-reveals]")) {
      const button = document.getElementById(field.dataset.reveals);
      if (button) button.hidden = false;
    }
  });
  document.addEventListener("click", function (event) {
    const field = event.target;
    if (field.matches && field.matches("input[data-select-on-focus]")) field.select();
  });
})();
