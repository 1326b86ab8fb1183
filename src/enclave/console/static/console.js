// Enclave console: progressive enhancement only; every page works without it.
// 1. <time datetime="...Z"> shows the viewer's local time; the title keeps UTC (hover).
// 2. Forms with data-confirm ask confirm() before submitting (the server still requires
//    the "I confirm" box, so this is a second prompt, never the only check).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at.getTime())) { el.textContent = format.format(at); }
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
