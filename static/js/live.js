// Live pages (templates/apm/_live.html): a WebSocket to the organization's live channel; when the server
// says new data of this project is stored, fetch the page again (at most once a second) and replace its
// [data-live-region] elements, then redraw their charts. "Paused" stops the refreshes (remembered per tab).
(function () {
  "use strict";

  var root = document.querySelector("[data-live]");
  if (!root) return;
  var toggle = root.querySelector("[data-live-toggle]");
  var label = root.querySelector("[data-live-label]");
  var status = root.querySelector("[data-live-status]");
  var topic = root.getAttribute("data-live-topic");
  var KEY = "vigil-live-paused";
  var MIN_INTERVAL = 1000;
  var paused = window.sessionStorage.getItem(KEY) === "1";
  var lastRefresh = 0;
  var trailing = null;
  var refreshing = false;
  var socket = null;
  var retry = 1000;

  function show() {
    toggle.setAttribute("aria-pressed", paused ? "false" : "true");
    label.textContent = paused ? "Paused" : "Live";
    root.classList.toggle("live-paused", paused);
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    window.sessionStorage.setItem(KEY, paused ? "1" : "0");
    show();
    if (!paused) refresh();
  });

  function refresh() {
    if (paused || refreshing) return;
    var wait = lastRefresh + MIN_INTERVAL - Date.now();
    if (wait > 0) {
      if (!trailing) trailing = window.setTimeout(function () { trailing = null; refresh(); }, wait);
      return;
    }
    refreshing = true;
    lastRefresh = Date.now();
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region]").forEach(function (region) {
          var replacement = region.id && fresh.getElementById(region.id);
          if (replacement) region.innerHTML = replacement.innerHTML;
        });
        if (window.VigilCharts) window.VigilCharts.drawAll();
        document.dispatchEvent(new CustomEvent("vigil:live-updated"));
        root.setAttribute("data-live-updated", String(Date.now()));
        status.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { status.textContent = "Update failed; retrying with the next data."; })
      .then(function () { refreshing = false; });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-live-socket"));
    socket.addEventListener("open", function () {
      retry = 1000;
      socket.send(JSON.stringify({ subscribe: [topic] }));
    });
    socket.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      if (message.subscribed) root.setAttribute("data-live-connected", "true");
      if (message.topic === topic) refresh();
    });
    socket.addEventListener("close", function () {
      root.removeAttribute("data-live-connected");
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  show();
  connect();
})();
