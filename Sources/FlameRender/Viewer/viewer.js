// flamed viewer: draws the embedded flame tree on a canvas.
// Names come from the profiled programs and are untrusted: they are only ever drawn on the
// canvas or assigned with textContent, never parsed as markup.
(function () {
  "use strict";

  var ROW = 18;             // CSS pixels per stack level
  var MAX_CANVAS = 32000;   // device pixels; browsers refuse canvases above 32767
  var MAX_AREA = 48e6;      // device pixels in all, to keep the canvas' memory reasonable
  var MIN_WIDTH = 0.5;      // frames narrower than this (CSS pixels) are not drawn
  var FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';
  var KIND_NAMES = ["root", "user", "kernel", "jit"];

  // Hue ranges [start, width] per frame kind; user frames follow the chosen scheme.
  var SCHEMES = {
    "blue-green": [165, 45],
    orange: [14, 32]
  };
  var KERNEL_HUES = [262, 36];
  var JIT_HUES = [78, 34];
  var MATCH_COLOR = "#e83ee8";
  var ROOT_COLOR = "#c4c8cd";

  function byId(id) { return document.getElementById(id); }
  function readJSON(id) { return JSON.parse(byId(id).textContent); }

  var canvas = byId("flame");
  var ctx = canvas.getContext("2d");
  var statusLine = byId("status");
  var note = byId("note");
  var searchBox = byId("search");
  var matchedLabel = byId("matched");
  var resetButton = byId("reset");
  var defaultStatus = statusLine.textContent;

  // ---- Context panel ----
  var context = readJSON("flamed-context");
  var weight = "samples";
  (function fillContext() {
    var list = byId("context");
    for (var i = 0; i < context.length; i++) {
      var label = String(context[i][0]);
      var value = String(context[i][1]);
      if (label === "weight" && value) weight = value;
      var dt = document.createElement("dt");
      dt.textContent = label;
      var dd = document.createElement("dd");
      dd.textContent = value;
      list.appendChild(dt);
      list.appendChild(dd);
    }
    if (context.length === 0) byId("context-panel").hidden = true;
  })();

  // ---- Flatten the tree into pre-order arrays (iteratively: trees can be very deep) ----
  var nameIds = new Map();
  var names = [];           // unique names
  var nodeName = [];        // node -> index into names
  var nodeKind = [];
  var nodeSelf = [];
  var nodeParent = [];
  var nodeDepth = [];
  (function flatten(rootObject) {
    var stack = [rootObject];
    var parents = [-1];
    while (stack.length > 0) {
      var obj = stack.pop();
      var parent = parents.pop();
      var index = nodeName.length;
      var n = String(obj.n);
      var id = nameIds.get(n);
      if (id === undefined) {
        id = names.length;
        names.push(n);
        nameIds.set(n, id);
      }
      nodeName.push(id);
      nodeKind.push(obj.l === "root" ? 0 : obj.l === "kernel" ? 2 : obj.l === "jit" ? 3 : 1);
      nodeSelf.push(Number(obj.v) || 0);
      nodeParent.push(parent);
      nodeDepth.push(parent < 0 ? 0 : nodeDepth[parent] + 1);
      var children = obj.c || [];
      for (var c = children.length - 1; c >= 0; c--) {
        stack.push(children[c]);
        parents.push(index);
      }
    }
  })(readJSON("flamed-data"));

  var count = nodeName.length;
  var total = new Float64Array(count);   // inclusive value
  var end = new Int32Array(count);       // subtree of i is [i, end[i])
  var left = new Float64Array(count);    // offset of the frame in value units
  (function measure() {
    var i;
    for (i = 0; i < count; i++) {
      total[i] = nodeSelf[i];
      end[i] = i + 1;
    }
    for (i = count - 1; i > 0; i--) {
      var p = nodeParent[i];
      total[p] += total[i];
      if (end[i] > end[p]) end[p] = end[i];
    }
    var cursor = new Float64Array(count);
    for (i = 1; i < count; i++) {
      var parent = nodeParent[i];
      left[i] = cursor[parent];
      cursor[parent] += total[i];
      cursor[i] = left[i];
    }
  })();
  var grandTotal = total[0];

  // ---- Colours ----
  function hash(text) {
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    h ^= h >>> 15;
    h = Math.imul(h, 2246822507);
    h ^= h >>> 13;
    return h >>> 0;
  }
  var scheme = document.body.getAttribute("data-scheme");
  var userHues = Object.prototype.hasOwnProperty.call(SCHEMES, scheme) ? SCHEMES[scheme] : SCHEMES["blue-green"];
  var colorCache = [[], [], [], []];
  function frameColor(node) {
    var kind = nodeKind[node];
    if (kind === 0) return ROOT_COLOR;
    var id = nodeName[node];
    var cached = colorCache[kind][id];
    if (cached) return cached;
    var hues = kind === 2 ? KERNEL_HUES : kind === 3 ? JIT_HUES : userHues;
    var h = hash(names[id]);
    var hue = hues[0] + (h % 1000) / 1000 * hues[1];
    var saturation = 50 + ((h >>> 10) % 25);
    var lightness = 56 + ((h >>> 20) % 16);
    var color = "hsl(" + hue.toFixed(1) + "," + saturation + "%," + lightness + "%)";
    colorCache[kind][id] = color;
    return color;
  }

  // ---- Search ----
  var nameMatches = null;   // per unique name: does it match the query?
  var lowerNames = null;
  function runSearch() {
    var query = searchBox.value.toLowerCase();
    if (query === "") {
      nameMatches = null;
      matchedLabel.textContent = "";
      draw();
      return;
    }
    if (lowerNames === null) lowerNames = names.map(function (n) { return n.toLowerCase(); });
    nameMatches = new Uint8Array(names.length);
    for (var id = 0; id < names.length; id++) {
      nameMatches[id] = lowerNames[id].indexOf(query) >= 0 ? 1 : 0;
    }
    // A matched frame covers its descendants, so they are not counted again.
    var matched = 0;
    var i = 1;
    while (i < count) {
      if (nameMatches[nodeName[i]]) {
        matched += total[i];
        i = end[i];
      } else {
        i++;
      }
    }
    if (nameMatches[nodeName[0]]) matched = grandTotal;
    matchedLabel.textContent = "Matched: " + percent(matched, grandTotal) + "%";
    draw();
  }

  function percent(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(2) : "0.00";
  }

  // ---- Drawing ----
  var focus = 0;
  var view = { width: 0, rows: 0, base: 0, charWidth: 7 };

  function maxDepthUnder(node) {
    var deepest = nodeDepth[node];
    for (var i = node; i < end[node]; i++) {
      if (nodeDepth[i] > deepest) deepest = nodeDepth[i];
    }
    return deepest;
  }

  function fitText(text, width) {
    var room = Math.floor((width - 6) / view.charWidth);
    if (room < 3) return "";
    return text.length <= room ? text : text.slice(0, room - 1) + "\u2026";
  }

  function drawFrame(node, x, width) {
    var y = (nodeDepth[node] - view.base) * ROW;
    ctx.fillStyle = nameMatches && nameMatches[nodeName[node]] ? MATCH_COLOR : frameColor(node);
    ctx.fillRect(x, y, width > 2 ? width - 1 : width, ROW - 1);
    if (width < 20) return;
    var label = fitText(names[nodeName[node]], width);
    if (label) {
      ctx.fillStyle = "#111";
      ctx.fillText(label, x + 3, y + ROW / 2);
    }
  }

  function draw() {
    var cssWidth = byId("graph").clientWidth;
    if (cssWidth <= 0) return;
    if (grandTotal <= 0) {
      canvas.hidden = true;
      note.textContent = "No samples were recorded.";
      return;
    }
    // Rows from the root to the deepest frame under the focus. A canvas cannot be
    // arbitrarily tall: first the resolution drops to one pixel per CSS pixel, then rows
    // are cut, first the ancestors above the focus, then the bottom of the focus' subtree.
    var rows = maxDepthUnder(focus) + 1;
    var ratio = window.devicePixelRatio || 1;
    var maxHeight = Math.min(MAX_CANVAS, Math.floor(MAX_AREA / (cssWidth * ratio)));
    var scale = ratio;
    if (rows * ROW * scale > maxHeight) {
      scale = Math.max(1, maxHeight / (rows * ROW));
      maxHeight = Math.min(MAX_CANVAS, Math.floor(MAX_AREA / (cssWidth * scale)));
    }
    var shownRows = Math.max(1, Math.min(rows, Math.floor(maxHeight / (ROW * scale))));
    var base = Math.min(nodeDepth[focus], rows - shownRows);
    var cssHeight = shownRows * ROW;

    canvas.width = Math.round(cssWidth * scale);
    canvas.height = Math.round(cssHeight * scale);
    canvas.style.height = cssHeight + "px";
    ctx.setTransform(canvas.width / cssWidth, 0, 0, canvas.height / cssHeight, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    view.width = cssWidth;
    view.rows = shownRows;
    view.base = base;
    view.charWidth = ctx.measureText("MMMMMMMMMM").width / 10 || 7;

    var limit = base + shownRows;   // first depth not drawn
    var notes = [];
    if (base > 0) notes.push(base + " levels above are hidden; Reset zoom to see them.");
    if (limit < rows) {
      notes.push("The stack is " + rows + " levels deep; levels below " + limit +
        " are not drawn. Click a frame near the bottom to zoom in on it.");
    }
    note.textContent = notes.join(" ");

    var origin = left[focus];
    var perUnit = cssWidth / total[focus];
    for (var a = nodeParent[focus]; a >= 0 && nodeDepth[a] >= base; a = nodeParent[a]) {
      drawFrame(a, 0, cssWidth);
    }
    var i = focus;
    var last = end[focus];
    while (i < last) {
      var width = total[i] * perUnit;
      if (width < MIN_WIDTH || nodeDepth[i] >= limit) {
        i = end[i];   // children are no wider and no shallower
        continue;
      }
      drawFrame(i, (left[i] - origin) * perUnit, width);
      i++;
    }
  }

  // ---- Interaction ----
  function frameAt(px, py) {
    if (view.width <= 0 || grandTotal <= 0) return -1;
    var row = Math.floor(py / ROW);
    if (row < 0 || row >= view.rows || px < 0 || px >= view.width) return -1;
    var perUnit = view.width / total[focus];
    var position = left[focus] + px / perUnit;
    var node = 0;
    for (var depth = 1; depth <= row + view.base; depth++) {
      var found = -1;
      for (var child = node + 1; child < end[node]; child = end[child]) {
        if (position >= left[child] && position < left[child] + total[child]) {
          found = child;
          break;
        }
      }
      if (found < 0) return -1;
      node = found;
    }
    return total[node] * perUnit >= MIN_WIDTH ? node : -1;
  }

  function eventFrame(event) {
    var rect = canvas.getBoundingClientRect();
    if (rect.width <= 0) return -1;
    var x = (event.clientX - rect.left) * view.width / rect.width;
    return frameAt(x, event.clientY - rect.top);
  }

  function describe(node) {
    var kind = nodeKind[node];
    return names[nodeName[node]] + "  \u2014  " + total[node] + " " + weight +
      " (" + percent(total[node], grandTotal) + "%), self " + nodeSelf[node] +
      ", " + KIND_NAMES[kind];
  }

  function zoom(node) {
    focus = node;
    resetButton.disabled = node === 0;
    draw();
  }

  canvas.addEventListener("mousemove", function (event) {
    var node = eventFrame(event);
    statusLine.textContent = node >= 0 ? describe(node) : defaultStatus;
  });
  canvas.addEventListener("mouseleave", function () {
    statusLine.textContent = defaultStatus;
  });
  canvas.addEventListener("click", function (event) {
    var node = eventFrame(event);
    if (node >= 0) zoom(node);
  });
  resetButton.addEventListener("click", function () { zoom(0); });

  var searchTimer = 0;
  searchBox.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 120);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (document.activeElement === searchBox && searchBox.value !== "") {
      searchBox.value = "";
      runSearch();
    } else {
      zoom(0);
    }
  });

  // Redraw when the graph's width changes (window resizes, a scroll bar appearing once the
  // canvas is tall) or the pixel ratio does (browser zoom).
  var resizePending = false;
  var drawnRatio = window.devicePixelRatio || 1;
  function redrawIfResized() {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(function () {
      resizePending = false;
      var ratio = window.devicePixelRatio || 1;
      if (byId("graph").clientWidth !== view.width || ratio !== drawnRatio) {
        drawnRatio = ratio;
        draw();
      }
    });
  }
  window.addEventListener("resize", redrawIfResized);
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(redrawIfResized).observe(byId("graph"));
  }

  draw();
})();
