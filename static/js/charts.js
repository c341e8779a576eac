// Draws the server-built plotly figures (templates/components/chart.html) and follows their links:
// a point whose customdata is a URL opens it on click, so every chart leads to the traces behind it.
(function () {
  "use strict";

  function themed(layout) {
    var style = window.getComputedStyle(document.body);
    var text = style.getPropertyValue("--text").trim() || style.color;
    layout.font = Object.assign({ family: style.fontFamily, color: text }, layout.font || {});
    return layout;
  }

  function draw(container) {
    var data = container.parentElement.querySelector("script[type='application/json']");
    if (!data || !window.Plotly || container.hasAttribute("data-drawn")) return;
    container.setAttribute("data-drawn", "");  // drawAll after a live refresh draws only the new charts
    var figure = JSON.parse(data.textContent);
    var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
    if (figure.layout && figure.layout.height && figure.layout.height < 60) config.staticPlot = true;
    window.Plotly.newPlot(container, figure.data, themed(figure.layout || {}), config).then(function () {
      container.setAttribute("data-rendered", "true");
    });
    container.on && container.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      var url = point && point.customdata;
      if (typeof url === "string" && url.charAt(0) === "/") window.location.assign(url);
    });
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
  window.VigilCharts = { draw: draw, drawAll: drawAll };
})();

// <input data-autosubmit>: a change submits its form (a plain submit button stays for no-JS).
document.addEventListener("change", function (event) {
  var input = event.target;
  if (input.hasAttribute && input.hasAttribute("data-autosubmit") && input.form) input.form.requestSubmit();
});
