// The service map (templates/apm/service_map.html) is drawn on the server as SVG links; this only adds:
//  - on hover or keyboard focus of a node or a call, its neighbourhood stays bright and the rest steps back;
//  - a tooltip with the full figures (the SVG <title> shows on hover only, not on focus);
//  - Escape hides the tooltip and the highlight.
// Without JavaScript the map works as it is: every node and call is still a link with an accessible name.
(function () {
  "use strict";

  function init(wrap) {
    var svg = wrap.querySelector("svg.service-map");
    var tooltip = wrap.querySelector("[data-map-tooltip]");
    if (!svg) return;
    var nodes = {};
    svg.querySelectorAll(".map-node").forEach(function (node) { nodes[node.getAttribute("data-node")] = node; });
    var edges = Array.prototype.slice.call(svg.querySelectorAll(".map-edge"));

    function clear() {
      svg.classList.remove("is-highlighting");
      svg.querySelectorAll(".is-related").forEach(function (el) { el.classList.remove("is-related"); });
      if (tooltip) tooltip.hidden = true;
    }

    function related(el) {
      var found = [el];
      if (el.classList.contains("map-node")) {
        var id = el.getAttribute("data-node");
        edges.forEach(function (edge) {
          var source = edge.getAttribute("data-source"), target = edge.getAttribute("data-target");
          if (source === id || target === id) {
            found.push(edge, nodes[source], nodes[target]);
          }
        });
      } else {
        found.push(nodes[el.getAttribute("data-source")], nodes[el.getAttribute("data-target")]);
      }
      return found.filter(Boolean);
    }

    function show(el, clientX, clientY) {
      clear();
      svg.classList.add("is-highlighting");
      related(el).forEach(function (item) { item.classList.add("is-related"); });
      if (!tooltip) return;
      tooltip.textContent = el.getAttribute("data-detail") || "";
      tooltip.hidden = false;
      place(el, clientX, clientY);
    }

    function place(el, clientX, clientY) {
      var box = wrap.getBoundingClientRect();
      if (clientX === undefined) {
        var rect = el.getBoundingClientRect();
        clientX = rect.left + rect.width / 2;
        clientY = rect.bottom;
      }
      var left = clientX - box.left + wrap.scrollLeft + 12;
      var top = clientY - box.top + wrap.scrollTop + 12;
      // keep it inside the visible part of the map
      var maxLeft = wrap.scrollLeft + wrap.clientWidth - tooltip.offsetWidth - 8;
      tooltip.style.left = Math.max(wrap.scrollLeft + 4, Math.min(left, maxLeft)) + "px";
      tooltip.style.top = top + "px";
    }

    svg.querySelectorAll(".map-node, .map-edge").forEach(function (el) {
      el.addEventListener("mouseenter", function (event) { show(el, event.clientX, event.clientY); });
      el.addEventListener("mousemove", function (event) {
        if (tooltip && !tooltip.hidden) place(el, event.clientX, event.clientY);
      });
      el.addEventListener("mouseleave", clear);
      el.addEventListener("focus", function () { show(el); });
      el.addEventListener("blur", clear);
    });
    svg.addEventListener("keydown", function (event) {
      if (event.key === "Escape") clear();
    });
  }

  function initAll() {
    document.querySelectorAll("[data-service-map]").forEach(init);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll);
  else initAll();
  // A live refresh (static/js/live.js) replaces the map with a new one: set that one up too.
  document.addEventListener("vigil:live-updated", initAll);
})();
