// The alert rule form and the silence form (templates/alerting/rule_form.html, silence_form.html).
// Rows (queries, conditions, matchers) are added and removed in place: "Add …" copies the row's <template>
// (numbering its inputs past the highest number in use) and focuses its first field; "Remove …" removes its row
// and moves focus to the next row, else the previous one, else the "Add" button; a polite live region says
// what happened. The buttons are ordinary buttons, so keyboard users press Enter or Space. Without JavaScript
// the rule form's buttons submit the form and the server adds or removes the row instead.
// A query row shows only the fields of its source; the metric name completes through the metric-names API.
(function () {
  "use strict";

  var NAMES = { queries: "Query", conditions: "Condition", matchers: "Matcher" };
  var status = document.querySelector("[data-rows-status]");

  function say(text) {
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function nextNumber(container, kind) {
    var highest = -1;
    var pattern = new RegExp("^" + kind + "-(\\d+)-");
    container.querySelectorAll("[name]").forEach(function (input) {
      var found = pattern.exec(input.getAttribute("name"));
      if (found) highest = Math.max(highest, parseInt(found[1], 10));
    });
    return highest + 1;
  }

  function firstField(row) {
    return row.querySelector("input:not([type=hidden]), select, textarea");
  }

  function addRow(kind) {
    var container = document.querySelector("[data-rows='" + kind + "']");
    var template = document.querySelector("template[data-row-template='" + kind + "']");
    if (!container || !template) return;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__n__/g, String(nextNumber(container, kind)));
    var row = holder.firstElementChild;
    container.appendChild(row);
    prepare(row);
    var field = firstField(row);
    if (field) field.focus();
    queryNames();
    say((NAMES[kind] || "Row") + " added.");
  }

  function removeRow(row) {
    var kind = row.getAttribute("data-row");
    var next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    var focus = next ? (next.querySelector("[data-remove-row]") || firstField(next))
                     : document.querySelector("[data-add-row='" + kind + "']");
    if (focus) focus.focus();
    queryNames();
    say((NAMES[kind] || "Row") + " removed.");
  }

  function showSource(row) {
    var select = row.querySelector("[data-source-select]");
    if (!select) return;
    row.querySelectorAll("[data-sources]").forEach(function (field) {
      field.hidden = field.getAttribute("data-sources").split(" ").indexOf(select.value) < 0;
    });
  }

  function queryNames() {
    var list = document.querySelector("[data-query-names]");
    if (!list) return;
    list.innerHTML = "";
    document.querySelectorAll("[data-query-name]").forEach(function (input) {
      var name = input.value.trim();
      var row = input.closest("[data-row]");
      var label = row && row.querySelector("[data-row-label]");
      if (label) label.textContent = name;
      var remove = row && row.querySelector("[data-remove-row]");
      if (remove) remove.setAttribute("aria-label", "Remove query " + (name || "(unnamed)"));
      if (!name) return;
      var option = document.createElement("option");
      option.value = name;
      list.appendChild(option);
    });
  }

  function prepare(scope) {
    scope.querySelectorAll("[data-remove-row]").forEach(function (button) { button.hidden = false; });
    if (scope.matches && scope.matches("[data-row]")) showSource(scope);
    scope.querySelectorAll("[data-row]").forEach(showSource);
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      event.preventDefault();
      addRow(add.getAttribute("data-add-row"));
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove && remove.closest("[data-row]")) {
      event.preventDefault();
      removeRow(remove.closest("[data-row]"));
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-source-select]")) showSource(event.target.closest("[data-row]"));
  });

  // Metric names by prefix (the page's <datalist> starts with the project's first names).
  var timer = null;
  var asked = "";
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches("[data-query-name]")) queryNames();
    if (!input.matches("[data-metric-names]")) return;
    var list = document.getElementById(input.getAttribute("list"));
    var prefix = input.value.trim();
    window.clearTimeout(timer);
    if (!list || !prefix || prefix === asked) return;
    timer = window.setTimeout(function () {
      asked = prefix;
      fetch(input.getAttribute("data-metric-names") + "?limit=50&prefix=" + encodeURIComponent(prefix),
            { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { names: [] }; })
        .then(function (body) {
          var known = {};
          list.querySelectorAll("option").forEach(function (option) { known[option.value] = true; });
          (body.names || []).forEach(function (entry) {
            if (known[entry.name]) return;
            var option = document.createElement("option");
            option.value = entry.name;
            option.textContent = entry.kind + (entry.unit ? ", " + entry.unit : "");
            list.appendChild(option);
          });
        })
        .catch(function () { /* the datalist still offers the names the page came with */ });
    }, 200);
  });

  document.querySelectorAll("[data-add-row]").forEach(function (button) { button.hidden = false; });
  prepare(document);
  queryNames();
})();
