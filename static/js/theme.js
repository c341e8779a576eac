// Applies the saved theme before the first paint (loaded synchronously in <head>).
// No saved choice: no data-theme attribute, and the CSS follows prefers-color-scheme.
(function () {
  "use strict";
  try {
    var saved = window.localStorage.getItem("vigil-theme");
    if (saved === "dark" || saved === "light") {
      document.documentElement.setAttribute("data-theme", saved);
    }
  } catch (e) {
    // Storage blocked (privacy mode): the system preference applies.
  }
})();
