// The trace view's waterfall (templates/apm/trace.html), drawn from the JSON the page embeds in #trace-data (built
// by apps/apm/traces.py: the spans in tree order as columns, with depth, critical flag and offset from the start).
// Attributes, events, links, resource and scope come from the read API when a span is first opened.
//
// Speed matters (a 5,000-span trace must be on screen within a second), so only the rows in view (plus a margin)
// exist in the DOM: a spacer gives the scroll box the height of every visible row, rows are absolutely placed at
// index × ROW px, and scrolling swaps rows in and out (kept ones are reused, so focus stays). Collapsing recomputes
// the list of visible rows in one pass. The time to the first frame is exposed as data-render-ms (script start to
// rows laid out) and data-rendered-at (the same moment, from navigation start) on #waterfall.
(function () {
  "use strict";
  var started = performance.now();
  var container = document.getElementById("waterfall");
  var source = document.getElementById("trace-data");
  if (!container || !source) return;
  var data = JSON.parse(source.textContent);
  var columns = data.spans;
  var n = columns.span_id.length;
  var total = Math.max(data.duration_ns, 1);
  var ROW = 26; // px, the CSS height of .wf-row
  var OVERSCAN = 20;
  var ZERO_ID = "00000000000000000000000000000000";
  var KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
  var STATUS = ["unset", "ok", "error"];
  var panel = document.getElementById("span-details");

  // A stable colour per service name (FNV-1a hash of the name → hue): the same on every trace and every load.
  var colours = {};
  function colour(service) {
    var known = colours[service];
    if (known) return known;
    var hash = 2166136261;
    for (var i = 0; i < service.length; i++) {
      hash ^= service.charCodeAt(i);
      hash = Math.imul(hash, 16777619);
    }
    hash >>>= 0;
    return (colours[service] = "hsl(" + (hash % 360) + ", " + (50 + ((hash >>> 9) % 25)) + "%, " + (42 + ((hash >>> 17) % 14)) + "%)");
  }
  var serviceColour = columns.services.map(colour);

  function ms(ns) {
    var value = ns / 1e6;
    if (value < 1) return value.toFixed(2) + " ms";
    if (value < 100) return value.toFixed(1) + " ms";
    return Math.round(value).toLocaleString("en-US") + " ms";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function serviceOf(i) {
    return columns.services[columns.service[i]];
  }

  // Tree structure from the depths alone: parent index and the end (exclusive) of each span's subtree.
  var depth = columns.depth;
  var parent = new Int32Array(n);
  var subtreeEnd = new Int32Array(n);
  var collapsed = new Uint8Array(n);
  var stack = [];
  var i;
  for (i = 0; i < n; i++) {
    var d = depth[i];
    while (stack.length && depth[stack[stack.length - 1]] >= d) subtreeEnd[stack.pop()] = i;
    parent[i] = stack.length ? stack[stack.length - 1] : -1;
    stack.push(i);
  }
  while (stack.length) subtreeEnd[stack.pop()] = n;
  var byId = {};
  for (i = 0; i < n; i++) byId[columns.span_id[i]] = i;

  // --- Layout: axis, scroll box, spacer ------------------------------------------------------------------------
  var axis = el("div", "wf-row wf-axis");
  axis.setAttribute("aria-hidden", "true");
  axis.appendChild(el("div", "wf-label", "Span"));
  var ticks = el("div", "wf-track");
  for (var k = 0; k < 4; k++) { // 0, ¼, ½, ¾: the end's label would collide with ¾'s on narrow screens
    var tick = el("span", "wf-tick", ms((total * k) / 4));
    tick.style.left = k * 25 + "%";
    ticks.appendChild(tick);
  }
  axis.appendChild(ticks);
  axis.appendChild(el("div", "wf-duration", "Duration"));
  var body = el("div", "wf-body");
  body.setAttribute("role", "tree");
  body.setAttribute("aria-label", "Spans of the trace, " + n + " in all");
  var spacer = el("div", "wf-spacer");
  body.appendChild(spacer);
  container.textContent = "";
  container.appendChild(axis);
  container.appendChild(body);

  // --- Rows ------------------------------------------------------------------------------------------------------
  function buildRow(i) {
    var failed = columns.status[i] === 2;
    var critical = columns.critical[i] === 1;
    var row = el("div", "wf-row" + (failed ? " wf-error" : "") + (critical ? " wf-critical" : "") + (i === selected ? " wf-selected" : ""));
    row.id = "span-" + columns.span_id[i];
    row.setAttribute("data-i", i);
    row.setAttribute("role", "treeitem");
    row.setAttribute("aria-level", depth[i] + 1);
    if (critical) row.setAttribute("data-critical", "true");
    var label = el("div", "wf-label");
    label.style.paddingLeft = Math.min(depth[i], 40) * 14 + 4 + "px";
    var hasChildren = subtreeEnd[i] > i + 1;
    if (hasChildren) {
      row.setAttribute("aria-expanded", collapsed[i] ? "false" : "true");
      var toggle = el("button", "wf-toggle", collapsed[i] ? "▸" : "▾");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", collapsed[i] ? "false" : "true");
      toggle.setAttribute("aria-label", (collapsed[i] ? "Expand" : "Collapse") + " the " + (subtreeEnd[i] - i - 1) + " spans under " + columns.name[i]);
      toggle.tabIndex = -1; // one tab stop per row (the name); the arrows collapse and expand from there
      label.appendChild(toggle);
    } else {
      label.appendChild(el("span", "wf-toggle-space"));
    }
    var name = el("button", "wf-name");
    name.type = "button";
    name.setAttribute("aria-controls", "span-details");
    if (i === selected) name.setAttribute("aria-current", "true");
    name.title = serviceOf(i) + ": " + columns.name[i];
    var swatch = el("span", "wf-swatch");
    swatch.style.background = serviceColour[columns.service[i]];
    name.appendChild(swatch);
    name.appendChild(el("span", "wf-service", serviceOf(i)));
    name.appendChild(document.createTextNode(" " + columns.name[i]));
    if (failed) name.appendChild(el("span", "wf-error-mark", " error"));
    label.appendChild(name);
    row.appendChild(label);
    var track = el("div", "wf-track");
    var bar = el("div", "wf-bar");
    bar.style.left = (columns.offset_ns[i] / total) * 100 + "%";
    bar.style.width = Math.max((columns.duration_ns[i] / total) * 100, 0.15) + "%";
    bar.style.background = serviceColour[columns.service[i]];
    track.appendChild(bar);
    row.appendChild(track);
    row.appendChild(el("div", "wf-duration", ms(columns.duration_ns[i])));
    return row;
  }

  var visible = []; // indices of the rows not inside a collapsed subtree, in order
  var position = new Int32Array(n); // index → place in ``visible`` (-1: hidden)
  function computeVisible() {
    visible = [];
    position.fill(-1);
    for (var j = 0; j < n; ) {
      position[j] = visible.length;
      visible.push(j);
      j = collapsed[j] ? subtreeEnd[j] : j + 1;
    }
    spacer.style.height = visible.length * ROW + "px";
  }

  var rendered = new Map(); // span index → its row element, for the rows in the DOM
  var selected = -1;
  function render() {
    var top = body.scrollTop;
    var height = body.clientHeight || ROW * 30;
    var first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    var last = Math.min(visible.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    var wanted = new Set();
    for (var p = first; p < last; p++) wanted.add(visible[p]);
    rendered.forEach(function (row, index) {
      if (!wanted.has(index)) {
        row.remove();
        rendered.delete(index);
      }
    });
    var fragment = document.createDocumentFragment();
    for (p = first; p < last; p++) {
      var index = visible[p];
      var row = rendered.get(index);
      if (!row) {
        row = buildRow(index);
        rendered.set(index, row);
        fragment.appendChild(row);
      }
      row.style.transform = "translateY(" + p * ROW + "px)";
    }
    body.appendChild(fragment);
  }

  var pending = false;
  body.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      render();
    });
  });

  // --- Collapse and expand -----------------------------------------------------------------------------------
  function setCollapsed(index, value) {
    if (subtreeEnd[index] <= index + 1 || collapsed[index] === value) return;
    collapsed[index] = value;
    var row = rendered.get(index);
    if (row) {
      // Rebuilt in place so its button and aria state change; focus moves to the new name button.
      var hadFocus = row.contains(document.activeElement);
      row.remove();
      rendered.delete(index);
      computeVisible();
      render();
      if (hadFocus) rendered.get(index).querySelector(".wf-name").focus({ preventScroll: true });
    } else {
      computeVisible();
      render();
    }
  }

  function reveal(index) {
    var chain = [];
    for (var p = parent[index]; p >= 0; p = parent[p]) if (collapsed[p]) chain.push(p);
    if (!chain.length) return;
    chain.forEach(function (c) {
      collapsed[c] = 0;
      var row = rendered.get(c);
      if (row) {
        row.remove();
        rendered.delete(c);
      }
    });
    computeVisible();
  }

  // Scroll the box (not the page) so the row is in view, and make sure it is rendered.
  function bringIntoView(index) {
    var y = position[index] * ROW;
    if (y < body.scrollTop || y + ROW > body.scrollTop + body.clientHeight) {
      body.scrollTop = Math.max(0, y - body.clientHeight / 2);
    }
    render();
    return rendered.get(index);
  }

  // --- Details -----------------------------------------------------------------------------------------------
  function value(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function keyValues(map) {
    var list = el("dl", "span-attributes");
    Object.keys(map || {}).sort().forEach(function (key) {
      list.appendChild(el("dt", null, key));
      list.appendChild(el("dd", null, value(map[key])));
    });
    return list;
  }

  function attributes(title, map) {
    var section = el("section", "span-section");
    var count = map ? Object.keys(map).length : 0;
    section.appendChild(el("h4", null, title + " (" + count + ")"));
    section.appendChild(count ? keyValues(map) : el("p", "muted", "none"));
    return section;
  }

  function spanHref(traceId, spanId) {
    if (traceId === data.trace_id) return "#span-" + spanId;
    return data.trace_url.replace(ZERO_ID, traceId) + (spanId ? "#span-" + spanId : "");
  }

  var details = null; // span id → the read API's span (attributes, resource, scope, events, links)
  var loading = null;
  function loadDetails() {
    if (!loading) {
      loading = fetch(container.getAttribute("data-details-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (trace) {
          details = {};
          trace.spans.forEach(function (span) {
            details[span.span_id] = span;
          });
        })
        .catch(function (error) {
          loading = null; // try again on the next click
          throw error;
        });
    }
    return loading;
  }

  function select(index, focus) {
    if (selected >= 0 && rendered.get(selected)) {
      var old = rendered.get(selected);
      old.classList.remove("wf-selected");
      old.querySelector(".wf-name").removeAttribute("aria-current");
    }
    selected = index;
    reveal(index);
    var row = bringIntoView(index);
    row.classList.add("wf-selected");
    var name = row.querySelector(".wf-name");
    name.setAttribute("aria-current", "true");
    if (focus) name.focus({ preventScroll: true });
    if (window.history && history.replaceState) history.replaceState(null, "", "#span-" + columns.span_id[index]);
    showSummary(index);
    if (details) showDetails(index);
    else {
      panel.appendChild(el("p", "muted span-loading", "Loading attributes, events and links…"));
      loadDetails().then(
        function () {
          if (selected === index) showDetails(index);
        },
        function (error) {
          if (selected !== index) return;
          var note = panel.querySelector(".span-loading");
          if (note) note.textContent = "The span's attributes could not be loaded (" + error.message + "). Choose it again to retry.";
        }
      );
    }
  }

  function showSummary(i) {
    panel.textContent = "";
    panel.appendChild(el("h3", null, columns.name[i]));
    var facts = el("dl", "details span-facts");
    function fact(term, content) {
      facts.appendChild(el("dt", null, term));
      var dd = el("dd");
      if (typeof content === "string") dd.textContent = content;
      else dd.appendChild(content);
      facts.appendChild(dd);
    }
    var service = el("span");
    var swatch = el("span", "wf-swatch");
    swatch.style.background = serviceColour[columns.service[i]];
    service.appendChild(swatch);
    service.appendChild(document.createTextNode(serviceOf(i)));
    fact("Service", service);
    fact("Kind", KINDS[columns.kind[i]] || String(columns.kind[i]));
    var status = STATUS[columns.status[i]] || String(columns.status[i]);
    fact("Status", columns.message[i] ? status + ": " + columns.message[i] : status);
    fact("Duration", ms(columns.duration_ns[i]));
    fact("Starts at", "+" + ms(columns.offset_ns[i]));
    fact("Critical path", columns.critical[i] ? "yes" : "no");
    fact("Span id", columns.span_id[i]);
    if (columns.parent_span_id[i]) {
      var up = el("a", null, columns.parent_span_id[i]);
      up.href = "#span-" + columns.parent_span_id[i];
      if (byId[columns.parent_span_id[i]] !== undefined) up.setAttribute("data-span-link", columns.parent_span_id[i]);
      fact("Parent", up);
    }
    panel.appendChild(facts);
  }

  function showDetails(i) {
    var span = details[columns.span_id[i]];
    var note = panel.querySelector(".span-loading");
    if (note) note.remove();
    if (!span) return;
    panel.appendChild(attributes("Attributes", span.attributes));
    panel.appendChild(attributes("Resource attributes", span.resource));
    var scope = span.scope || { attributes: {} };
    panel.appendChild(attributes("Scope " + (scope.name || "(unnamed)") + (scope.version ? " " + scope.version : ""), scope.attributes));

    var events = el("section", "span-section");
    events.appendChild(el("h4", null, "Events (" + span.events.length + ")"));
    span.events.forEach(function (event) {
      var item = el("div", "span-event");
      item.appendChild(el("strong", null, event.name));
      // Both are ~1.7e18: as doubles the difference is good to a microsecond, plenty for "+12.34 ms".
      item.appendChild(el("span", "muted", " at +" + ms(event.time_unix_nano - data.start_ns)));
      if (event.attributes && Object.keys(event.attributes).length) item.appendChild(keyValues(event.attributes));
      events.appendChild(item);
    });
    panel.appendChild(events);

    var links = el("section", "span-section");
    links.appendChild(el("h4", null, "Links (" + span.links.length + ")"));
    span.links.forEach(function (link) {
      var item = el("div", "span-link");
      var here = link.trace_id === data.trace_id;
      var anchor = el("a", null, (here ? "this trace, span " : "trace " + link.trace_id + ", span ") + link.span_id);
      anchor.href = spanHref(link.trace_id, link.span_id);
      if (here) anchor.setAttribute("data-span-link", link.span_id);
      anchor.setAttribute("data-testid", "span-link");
      item.appendChild(anchor);
      if (link.attributes && Object.keys(link.attributes).length) item.appendChild(keyValues(link.attributes));
      links.appendChild(item);
    });
    panel.appendChild(links);
    var dropped = [];
    if (span.dropped_attributes_count) dropped.push(span.dropped_attributes_count + " attributes");
    if (span.dropped_events_count) dropped.push(span.dropped_events_count + " events");
    if (span.dropped_links_count) dropped.push(span.dropped_links_count + " links");
    if (dropped.length) panel.appendChild(el("p", "muted", "Dropped by the SDK: " + dropped.join(", ") + "."));
  }

  // --- Events: one listener each, on the scroll box (rows come and go) -------------------------------------------
  function indexOf(node) {
    var row = node.closest(".wf-row[data-i]");
    return row ? Number(row.getAttribute("data-i")) : -1;
  }

  body.addEventListener("click", function (event) {
    var index = indexOf(event.target);
    if (index < 0) return;
    if (event.target.closest(".wf-toggle")) setCollapsed(index, collapsed[index] ? 0 : 1);
    else select(index, true);
  });

  function focusRow(index) {
    var row = bringIntoView(index);
    if (row) row.querySelector(".wf-name").focus({ preventScroll: true });
  }

  body.addEventListener("keydown", function (event) {
    if (!event.target.classList.contains("wf-name")) return;
    var index = indexOf(event.target);
    var at = position[index];
    var next = -1;
    if (event.key === "ArrowDown") next = at + 1 < visible.length ? visible[at + 1] : -1;
    else if (event.key === "ArrowUp") next = at > 0 ? visible[at - 1] : -1;
    else if (event.key === "Home") next = visible[0];
    else if (event.key === "End") next = visible[visible.length - 1];
    else if (event.key === "ArrowRight" && collapsed[index]) setCollapsed(index, 0);
    else if (event.key === "ArrowLeft") {
      if (subtreeEnd[index] > index + 1 && !collapsed[index]) setCollapsed(index, 1);
      else next = parent[index];
    } else return;
    event.preventDefault();
    if (next >= 0) focusRow(next);
  });

  // --- Tabs (waterfall / logs) and links to a span (#span-<id>) ------------------------------------------------
  var tablist = document.querySelector("[data-tabs]");
  var tabs = tablist ? Array.prototype.slice.call(tablist.querySelectorAll("[role=tab]")) : [];
  function activate(tab, focus) {
    tabs.forEach(function (other) {
      var on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
    if (tab === tabs[0]) render(); // the box had no height while hidden
  }
  if (tablist) {
    tablist.hidden = false;
    tabs.forEach(function (tab, at) {
      if (at > 0) document.getElementById(tab.getAttribute("aria-controls")).hidden = true;
    });
    tablist.addEventListener("click", function (event) {
      var tab = event.target.closest("[role=tab]");
      if (tab) activate(tab, false);
    });
    tablist.addEventListener("keydown", function (event) {
      var at = tabs.indexOf(document.activeElement);
      if (at < 0 || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
      event.preventDefault();
      activate(tabs[(at + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length], true);
    });
  }

  function goToSpan(spanId) {
    var index = byId[spanId];
    if (index === undefined) return false;
    if (tabs.length) activate(tabs[0], false);
    container.scrollIntoView({ block: "nearest" });
    select(index, true);
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-span-link]");
    if (link && goToSpan(link.getAttribute("data-span-link"))) event.preventDefault();
  });
  window.addEventListener("hashchange", function () {
    if (location.hash.indexOf("#span-") === 0) goToSpan(location.hash.slice(6));
  });

  document.querySelectorAll("[data-service]").forEach(function (node) {
    var swatch = el("span", "wf-swatch");
    swatch.style.background = colour(node.getAttribute("data-service"));
    node.insertBefore(swatch, node.firstChild);
  });

  computeVisible();
  render();
  // Lay the rows out now, so the measured time includes style and layout, not just building the DOM.
  void container.offsetHeight;
  var finished = performance.now();
  container.setAttribute("data-render-ms", (finished - started).toFixed(1));
  container.setAttribute("data-rendered-at", finished.toFixed(1));
  container.setAttribute("data-rendered", "true");

  if (location.hash.indexOf("#span-") === 0) goToSpan(location.hash.slice(6));
})();
