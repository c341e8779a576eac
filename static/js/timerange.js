// The time-range picker (templates/components/timerange.html).
// Without this script the picker is a plain GET form; with it:
//  - a preset submits only ?range= (the custom from/to inputs are left out of the URL);
//  - "Apply" submits only ?from=&to= and checks that from is before to;
//  - arrow keys, Home and End move between the preset buttons (one tab stop for the group).
(function () {
  "use strict";
  if (window.vigilTimerangeReady) return; // included once per picker; wire every picker once
  window.vigilTimerangeReady = true;

  function init(form) {
    var from = form.querySelector("[data-timerange-from]");
    var to = form.querySelector("[data-timerange-to]");
    var error = form.querySelector("[data-timerange-error]");
    var presets = Array.prototype.slice.call(form.querySelectorAll(".timerange-presets button"));

    // Roving tabindex: Tab reaches the pressed preset; arrows move within the group.
    var pressed = presets.filter(function (b) { return b.getAttribute("aria-pressed") === "true"; })[0] || presets[0];
    presets.forEach(function (b) { b.tabIndex = b === pressed ? 0 : -1; });
    form.querySelector(".timerange-presets").addEventListener("keydown", function (event) {
      var index = presets.indexOf(document.activeElement);
      if (index < 0) return;
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") next = presets[(index + 1) % presets.length];
      if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = presets[(index - 1 + presets.length) % presets.length];
      if (event.key === "Home") next = presets[0];
      if (event.key === "End") next = presets[presets.length - 1];
      if (!next) return;
      event.preventDefault();
      presets.forEach(function (b) { b.tabIndex = -1; });
      next.tabIndex = 0;
      next.focus();
    });

    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      var isPreset = submitter && submitter.name === "range";
      if (!isPreset) {
        if (!from.value) {
          event.preventDefault();
          error.textContent = "Choose when the range starts.";
          from.focus();
          return;
        }
        if (to.value && from.value >= to.value) {
          event.preventDefault();
          error.textContent = "The start of the range must be before its end.";
          from.focus();
          return;
        }
      }
      // Disabled inputs are not submitted: the URL carries exactly one kind of range.
      from.disabled = isPreset;
      to.disabled = isPreset || !to.value;
      window.setTimeout(function () { from.disabled = false; to.disabled = false; }, 0);
    });
  }

  function start() {
    document.querySelectorAll("form[data-timerange]").forEach(init);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
