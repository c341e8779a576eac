// The explorer forms (templates/apm/logs.html, metrics.html): attribute rows can be added; the metric name
// field completes by prefix through the metric-names API (the page's <datalist> holds the first 1,000 names).
(function () {
  "use strict";

  function attributeRows() {
    var fieldset = document.querySelector("[data-attribute-rows]");
    var add = fieldset && fieldset.querySelector("[data-add-attribute]");
    if (!add) return;
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = fieldset.querySelectorAll("[data-attribute-row]");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      fieldset.insertBefore(copy, add);
      copy.querySelector("input").focus();
    });
  }

  function metricNames() {
    var input = document.querySelector("[data-metric-names]");
    if (!input) return;
    var list = document.getElementById(input.getAttribute("list"));
    var api = input.getAttribute("data-metric-names");
    var timer = null;
    var asked = "";

    function fill(names) {
      var known = {};
      list.querySelectorAll("option").forEach(function (option) { known[option.value] = true; });
      names.forEach(function (entry) {
        if (known[entry.name]) return;
        var option = document.createElement("option");
        option.value = entry.name;
        option.textContent = entry.kind + (entry.unit ? ", " + entry.unit : "");
        list.appendChild(option);
      });
    }

    input.addEventListener("input", function () {
      var prefix = input.value.trim();
      window.clearTimeout(timer);
      if (!prefix || prefix === asked) return;
      timer = window.setTimeout(function () {
        asked = prefix;
        fetch(api + "?limit=50&prefix=" + encodeURIComponent(prefix), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : { names: [] }; })
          .then(function (body) { fill(body.names || []); })
          .catch(function () { /* the datalist still offers the names the page came with */ });
      }, 200);
    });
  }

  attributeRows();
  metricNames();
})();
