// The trace search page (templates/apm/traces.html): a box dragged on the duration chart becomes the search's
// time and duration range; attribute rows can be added; result rows open their trace on click, ↑/↓ move between them.
(function () {
  "use strict";

  // plotly.js date axes are time-zone naive; the server drew them in UTC (apps/apm/charts.py trace_durations).
  function utc(value) {
    if (typeof value === "number") return new Date(value).toISOString().replace("Z", "");
    return String(value).trim().replace(" ", "T");
  }

  function navigate(base, x0, x1, y0, y1) {
    var low = Math.max(0, Math.min(y0, y1));
    var high = Math.max(y0, y1);
    var params = [
      "from=" + encodeURIComponent(utc(x0 < x1 ? x0 : x1)),
      "to=" + encodeURIComponent(utc(x0 < x1 ? x1 : x0)),
      "min_duration_ms=" + (Math.floor(low * 1000) / 1000),
      "max_duration_ms=" + (Math.ceil(high * 1000) / 1000),
    ];
    window.location.assign(base + (base.indexOf("?") >= 0 ? "&" : "?") + params.join("&"));
  }

  function watch(box) {
    var plot = box.querySelector("[data-chart]");
    if (!plot || typeof plot.on !== "function") return false;
    var base = box.getAttribute("data-select-url");
    // A box selection (the chart's drag mode)...
    plot.on("plotly_selected", function (event) {
      var range = event && event.range;
      if (!range || !range.x || !range.y) return;
      navigate(base, range.x[0], range.x[1], range.y[0], range.y[1]);
    });
    // ...or a zoom box, when the zoom tool is picked in the mode bar. The y range of a log axis is in powers of ten.
    plot.on("plotly_relayout", function (change) {
      var x0 = change["xaxis.range[0]"], x1 = change["xaxis.range[1]"];
      var y0 = change["yaxis.range[0]"], y1 = change["yaxis.range[1]"];
      if (x0 === undefined || y0 === undefined) return;
      var log = plot.layout && plot.layout.yaxis && plot.layout.yaxis.type === "log";
      navigate(base, x0, x1, log ? Math.pow(10, y0) : y0, log ? Math.pow(10, y1) : y1);
    });
    return true;
  }

  function watchChart() {
    var box = document.getElementById("trace-chart");
    if (!box || watch(box)) return;
    // charts.js has not drawn it yet: wait for its data-rendered mark.
    var observer = new MutationObserver(function () {
      if (watch(box)) observer.disconnect();
    });
    observer.observe(box, { attributes: true, subtree: true, attributeFilter: ["data-rendered"] });
  }

  function attributeRows() {
    var fieldset = document.querySelector("[data-attribute-rows]");
    var add = fieldset && fieldset.querySelector("[data-add-attribute]");
    if (!add) return;
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = fieldset.querySelectorAll("[data-attribute-row]");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) {
        input.value = "";
      });
      fieldset.insertBefore(copy, add);
      copy.querySelector("input").focus();
    });
  }

  function resultRows() {
    var table = document.querySelector("[data-testid=trace-results]");
    if (!table) return;
    table.addEventListener("click", function (event) {
      if (event.target.closest("a")) return; // the link itself
      var row = event.target.closest("tr[data-href]");
      if (row && !window.getSelection().toString()) window.location.assign(row.getAttribute("data-href"));
    });
    table.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      var row = event.target.closest("tr[data-href]");
      if (!row) return;
      var next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      if (!next) return;
      event.preventDefault();
      next.querySelector("a[data-trace-link]").focus();
    });
  }

  watchChart();
  attributeRows();
  resultRows();
})();
