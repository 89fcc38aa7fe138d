// Behaviour every page shares, in one file so that no page needs inline script (the
// Content-Security-Policy forbids it):
//   <form data-confirm="Delete this?">   asks before submitting
//   <select data-autosubmit>            submits its form when changed
//   <input data-select-on-focus>        selects its text when clicked, for copying a key
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field.matches && field.matches("select[data-autosubmit]") && field.form) {
      field.form.requestSubmit();
    }
  });
  document.addEventListener("click", function (event) {
    const field = event.target;
    if (field.matches && field.matches("input[data-select-on-focus]")) field.select();
  });
})();
