// flamed viewer: draws the embedded flame tree on a canvas.
//
// Names come from the profiled programs and are untrusted: they are only ever drawn on the
// canvas or assigned with textContent, never parsed as markup.
//
// The embedded data (see CompactTreeEncoder.swift) is
//   {"format": "flamed-compact-1", "names": [...], "nodes": [name, kind, self, childCount, ...]}
// with the nodes in pre-order. Everything below works on "trees": pre-order typed arrays in
// which node 0 is the root, a node's subtree is the index range [i, end[i]), and each row
// (depth) lists its nodes left to right, so layout and hit-testing are array scans and
// binary searches. The pure functions are exposed as window.flamedViewer.lib for tests.
(function () {
  "use strict";

  var KIND_NAMES = ["root", "user", "kernel", "jit"];
  var KIND_LABELS = ["root", "", "kernel", "jit"];   // perf's JSON "l" field

  // ==== Trees ====

  // Builds a tree from pre-order arrays (parent[i] < i, subtrees contiguous).
  function finish(names, name, kind, self, parent) {
    var count = name.length;
    var depth = new Int32Array(count);
    var total = new Float64Array(count);
    var end = new Int32Array(count);
    var left = new Float64Array(count);
    var i, p, maxDepth = 0;
    for (i = 0; i < count; i++) {
      total[i] = self[i];
      end[i] = i + 1;
      if (i > 0) {
        depth[i] = depth[parent[i]] + 1;
        if (depth[i] > maxDepth) maxDepth = depth[i];
      }
    }
    for (i = count - 1; i > 0; i--) {
      p = parent[i];
      total[p] += total[i];
      if (end[i] > end[p]) end[p] = end[i];
    }
    // Offsets: each child starts where its previous sibling ended.
    var cursor = new Float64Array(count);
    for (i = 1; i < count; i++) {
      p = parent[i];
      left[i] = cursor[p];
      cursor[p] += total[i];
      cursor[i] = left[i];
    }
    // Rows: the nodes of each depth in pre-order, which is left to right.
    var rowStart = new Int32Array(maxDepth + 2);
    for (i = 0; i < count; i++) rowStart[depth[i] + 1]++;
    for (i = 1; i < rowStart.length; i++) rowStart[i] += rowStart[i - 1];
    var fill = rowStart.slice(0, maxDepth + 1);
    var rowNodes = new Int32Array(count);
    for (i = 0; i < count; i++) rowNodes[fill[depth[i]]++] = i;
    return {
      count: count, names: names, name: name, kind: kind, self: self, parent: parent,
      depth: depth, total: total, end: end, left: left, maxDepth: maxDepth,
      rowStart: rowStart, rowNodes: rowNodes
    };
  }

  // The embedded compact document -> tree.
  function decode(data) {
    var names = (data && data.names) || ["all"];
    var flat = (data && data.nodes) || [0, 0, 0, 0];
    var count = Math.max(1, Math.floor(flat.length / 4));
    var name = new Int32Array(count), kind = new Uint8Array(count);
    var self = new Float64Array(count), parent = new Int32Array(count);
    var stackNode = new Int32Array(count + 1), stackLeft = new Float64Array(count + 1);
    var sp = 0;
    parent[0] = -1;
    for (var i = 0; i < count; i++) {
      var o = i * 4;
      var n = +flat[o] || 0;
      name[i] = n >= 0 && n < names.length ? n : 0;
      var k = +flat[o + 1] || 0;
      kind[i] = i === 0 ? 0 : (k >= 1 && k <= 3 ? k : 1);
      self[i] = Math.max(0, +flat[o + 2] || 0);
      if (i > 0) {
        if (sp === 0) {   // malformed: more nodes than announced; hang them on the root
          parent[i] = 0;
        } else {
          parent[i] = stackNode[sp - 1];
          if (--stackLeft[sp - 1] <= 0) sp--;
        }
      }
      var children = +flat[o + 3] || 0;
      if (children > 0) {
        stackNode[sp] = i;
        stackLeft[sp] = children;
        sp++;
      }
    }
    return finish(names.map(String), name, kind, self, parent);
  }

  // A growable tree in creation order (children in first-seen order), as FlameTree is.
  function Builder(names, rootName) {
    this.names = names;
    this.name = [rootName];
    this.kind = [0];
    this.self = [0];
    this.parent = [-1];
    this.first = [-1];
    this.next = [-1];
    this.last = [-1];
    this.index = new Map();
  }
  Builder.prototype.child = function (parent, name, kind) {
    var key = parent * this.names.length + name;
    var node = this.index.get(key);
    if (node !== undefined) return node;
    node = this.name.length;
    this.name.push(name);
    this.kind.push(kind);
    this.self.push(0);
    this.parent.push(parent);
    this.first.push(-1);
    this.next.push(-1);
    this.last.push(-1);
    if (this.first[parent] < 0) this.first[parent] = node; else this.next[this.last[parent]] = node;
    this.last[parent] = node;
    this.index.set(key, node);
    return node;
  };
  // -> tree (renumbered in pre-order).
  Builder.prototype.tree = function () {
    var count = this.name.length;
    var order = new Int32Array(count), newIndex = new Int32Array(count);
    var k = 0, node = 0;
    outer: for (;;) {
      newIndex[node] = k;
      order[k++] = node;
      if (this.first[node] >= 0) { node = this.first[node]; continue; }
      while (node !== 0) {
        if (this.next[node] >= 0) { node = this.next[node]; continue outer; }
        node = this.parent[node];
      }
      break;
    }
    var name = new Int32Array(count), kind = new Uint8Array(count);
    var self = new Float64Array(count), parent = new Int32Array(count);
    for (var i = 0; i < count; i++) {
      var old = order[i];
      name[i] = this.name[old];
      kind[i] = this.kind[old];
      self[i] = this.self[old];
      parent[i] = old === 0 ? -1 : newIndex[this.parent[old]];
    }
    return finish(this.names, name, kind, self, parent);
  };

  // perf's nested {n, l, v, c} object -> tree (for tests and tools).
  function fromNested(root) {
    var names = [], ids = new Map();
    function intern(text) {
      text = String(text);
      var id = ids.get(text);
      if (id === undefined) { id = names.length; names.push(text); ids.set(text, id); }
      return id;
    }
    var b = new Builder(names, intern(root.n));
    b.self[0] = Number(root.v) || 0;
    var stack = [[root, 0]];
    while (stack.length > 0) {
      var top = stack.pop(), children = top[0].c || [];
      var made = [];
      for (var c = 0; c < children.length; c++) {
        var ch = children[c];
        var kind = ch.l === "kernel" ? 2 : ch.l === "jit" ? 3 : ch.l === "root" ? 0 : 1;
        var node = b.child(top[1], intern(ch.n), kind);
        b.self[node] += Number(ch.v) || 0;
        made.push([ch, node]);
      }
      for (c = made.length - 1; c >= 0; c--) stack.push(made[c]);
    }
    return b.tree();
  }

  // Tree -> perf's nested {n, l, v, c} object.
  function toNested(tree) {
    var objects = new Array(tree.count);
    for (var i = 0; i < tree.count; i++) {
      objects[i] = { n: tree.names[tree.name[i]], l: KIND_LABELS[tree.kind[i]], v: tree.self[i], c: [] };
      if (i > 0) objects[tree.parent[i]].c.push(objects[i]);
    }
    return objects[0];
  }

  // The processes: the root's children, largest first.
  function processes(tree) {
    var list = [];
    for (var c = 1; c < tree.count; c = tree.end[c]) {
      list.push({ node: c, name: tree.names[tree.name[c]], total: tree.total[c] });
    }
    list.sort(function (a, b) { return b.total - a.total || a.node - b.node; });
    return list;
  }

  // The tree with only one process (a child of the root) under the root; null if absent.
  function filterProcess(tree, processName) {
    var p = -1;
    for (var c = 1; c < tree.count; c = tree.end[c]) {
      if (tree.names[tree.name[c]] === processName) { p = c; break; }
    }
    if (p < 0) return null;
    var count = tree.end[p] - p + 1;
    var name = new Int32Array(count), kind = new Uint8Array(count);
    var self = new Float64Array(count), parent = new Int32Array(count);
    name[0] = tree.name[0];
    parent[0] = -1;
    for (var i = p; i < tree.end[p]; i++) {
      var j = i - p + 1;
      name[j] = tree.name[i];
      kind[j] = tree.kind[i];
      self[j] = tree.self[i];
      parent[j] = i === p ? 0 : tree.parent[i] - p + 1;
    }
    return finish(tree.names, name, kind, self, parent);
  }

  // Bottom-up view: the stacks merged by their leaf, each leaf's callers above it, up to
  // the process frame. A stack's samples are the self value of its outermost frame here,
  // so each node's total is the samples of the stacks ending in that leaf through it.
  function reverse(tree) {
    var b = new Builder(tree.names, tree.name[0]);
    b.self[0] = tree.self[0];
    for (var i = 1; i < tree.count; i++) {
      if (tree.self[i] <= 0) continue;
      var node = 0;
      for (var a = i; a > 0; a = tree.parent[a]) node = b.child(node, tree.name[a], tree.kind[a]);
      b.self[node] += tree.self[i];
    }
    return b.tree();
  }

  // ==== Search ====

  // -> null (no search), {error: "Invalid regex: ..."}, or {test: function (name) -> bool}.
  function compileQuery(query, regex, caseSensitive) {
    if (!query) return null;
    if (regex) {
      var re;
      try {
        re = new RegExp(query, caseSensitive ? "" : "i");
      } catch (e) {
        return { error: "Invalid regex: " + (e && e.message ? e.message : String(e)) };
      }
      return { test: function (text) { return re.test(text); } };
    }
    if (caseSensitive) return { test: function (text) { return text.indexOf(query) >= 0; } };
    var lower = query.toLowerCase();
    return { test: function (text) { return text.toLowerCase().indexOf(lower) >= 0; } };
  }

  // Per name of the table: 1 if it matches.
  function matchNames(names, matcher) {
    var result = new Uint8Array(names.length);
    for (var i = 0; i < names.length; i++) result[i] = matcher.test(names[i]) ? 1 : 0;
    return result;
  }

  // Samples under at least one matching frame: a match inside a matched frame's subtree is
  // not counted again. The root is not a frame and never matches.
  function matchedTotal(tree, nameMatches) {
    var sum = 0, i = 1;
    while (i < tree.count) {
      if (nameMatches[tree.name[i]]) { sum += tree.total[i]; i = tree.end[i]; } else { i++; }
    }
    return sum;
  }

  function matchedPercent(tree, nameMatches) {
    return tree.total[0] > 0 ? 100 * matchedTotal(tree, nameMatches) / tree.total[0] : 0;
  }

  // One search over a tree: {error} or {matches, percent, text}.
  function search(tree, query, regex, caseSensitive) {
    var matcher = compileQuery(query, regex, caseSensitive);
    if (matcher === null) return { matches: null, percent: null, text: "" };
    if (matcher.error) return { error: matcher.error, matches: null, percent: null, text: matcher.error };
    var matches = matchNames(tree.names, matcher);
    var percent = matchedPercent(tree, matches);
    return { matches: matches, percent: percent, text: "Matched: " + percent.toFixed(1) + "%" };
  }

  // ==== Layout ====

  // [lo, hi): the part of row `depth` in rowNodes that lies in the subtree of `focus`.
  function rowRange(tree, focus, depth) {
    if (depth < tree.depth[focus] || depth > tree.maxDepth) return [0, 0];
    var start = tree.rowStart[depth], stop = tree.rowStart[depth + 1];
    var first = focus, last = tree.end[focus];   // pre-order index range of the subtree
    var lo = start, hi = stop;
    while (lo < hi) { var m = (lo + hi) >> 1; if (tree.rowNodes[m] < first) lo = m + 1; else hi = m; }
    var from = lo;
    hi = stop;
    while (lo < hi) { m = (lo + hi) >> 1; if (tree.rowNodes[m] < last) lo = m + 1; else hi = m; }
    return [from, lo];
  }

  // The ancestor of `node` at `depth` (<= the node's depth).
  function ancestorAt(tree, node, depth) {
    while (tree.depth[node] > depth) node = tree.parent[node];
    return node;
  }

  // Calls visit(node, depth, x, width) for every frame of rows d0..d1 that is at least
  // `minWidth` wide when the subtree of `focus` spans `width` (CSS pixels); the focus'
  // ancestors span the whole width. Frames narrower are culled: onCulled(node, depth, x, w)
  // if given. Returns {drawn, culled}.
  function forEachFrame(tree, focus, width, d0, d1, minWidth, visit, onCulled) {
    var drawn = 0, culled = 0;
    var focusDepth = tree.depth[focus];
    var scale = tree.total[focus] > 0 ? width / tree.total[focus] : 0;
    var origin = tree.left[focus];
    if (d0 < 0) d0 = 0;
    if (d1 > tree.maxDepth) d1 = tree.maxDepth;
    for (var d = d0; d <= d1; d++) {
      if (d < focusDepth) {
        if (scale > 0) { visit(ancestorAt(tree, focus, d), d, 0, width); drawn++; }
        continue;
      }
      var range = rowRange(tree, focus, d);
      for (var k = range[0]; k < range[1]; k++) {
        var node = tree.rowNodes[k];
        var w = tree.total[node] * scale;
        var x = (tree.left[node] - origin) * scale;
        if (w < minWidth || !(w > 0)) {
          culled++;
          if (onCulled) onCulled(node, d, x, w);
          continue;
        }
        visit(node, d, x, w);
        drawn++;
      }
    }
    return { drawn: drawn, culled: culled };
  }

  // Frames of rows d0..d1 (all rows by default) as plain objects, for tests.
  function layout(tree, focus, width, minWidth, d0, d1) {
    var frames = [];
    var result = forEachFrame(tree, focus || 0, width, d0 === undefined ? 0 : d0,
      d1 === undefined ? tree.maxDepth : d1, minWidth === undefined ? 1 : minWidth,
      function (node, depth, x, w) {
        frames.push({ node: node, name: tree.names[tree.name[node]], depth: depth, x: x, w: w });
      });
    return { frames: frames, drawn: result.drawn, culled: result.culled };
  }

  // The frame at horizontal position x (CSS pixels) of row `depth`, or -1: a binary search
  // for the last frame of the row starting at or before x.
  function hitTest(tree, focus, width, depth, x, minWidth) {
    if (minWidth === undefined) minWidth = 1;
    if (!(x >= 0 && x < width) || depth < 0 || depth > tree.maxDepth || !(tree.total[focus] > 0)) return -1;
    if (depth < tree.depth[focus]) return ancestorAt(tree, focus, depth);
    var scale = width / tree.total[focus];
    var position = tree.left[focus] + x / scale;
    var range = rowRange(tree, focus, depth);
    var lo = range[0], hi = range[1];
    while (lo < hi) {
      var m = (lo + hi) >> 1;
      if (tree.left[tree.rowNodes[m]] <= position) lo = m + 1; else hi = m;
    }
    if (lo === range[0]) return -1;
    var node = tree.rowNodes[lo - 1];
    if (position >= tree.left[node] + tree.total[node]) return -1;
    return tree.total[node] * scale >= minWidth ? node : -1;
  }

  // The deepest depth in the subtree of `node`.
  function maxDepthUnder(tree, node) {
    if (node === 0) return tree.maxDepth;
    var deepest = tree.depth[node];
    for (var i = node + 1; i < tree.end[node]; i++) if (tree.depth[i] > deepest) deepest = tree.depth[i];
    return deepest;
  }

  // The names from the root's child down to `node`.
  function pathOf(tree, node) {
    var path = [];
    for (; node > 0; node = tree.parent[node]) path.push(tree.names[tree.name[node]]);
    return path.reverse();
  }

  // The node at the end of `path` (names below the root), or the deepest one found.
  function findPath(tree, path) {
    var node = 0;
    for (var p = 0; p < path.length; p++) {
      var found = -1;
      for (var c = node + 1; c < tree.end[node]; c = tree.end[c]) {
        if (tree.names[tree.name[c]] === path[p]) { found = c; break; }
      }
      if (found < 0) break;
      node = found;
    }
    return node;
  }

  // ==== Export ====

  var HEX = "0123456789abcdef";
  // A JSON string as Python's json.dumps writes it (ensure_ascii), as JSONEscape does.
  function pyQuote(text) {
    var out = "\"";
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) { out += text.charAt(i); continue; }
      switch (c) {
        case 0x22: out += "\\\""; break;
        case 0x5c: out += "\\\\"; break;
        case 0x0a: out += "\\n"; break;
        case 0x0d: out += "\\r"; break;
        case 0x09: out += "\\t"; break;
        case 0x08: out += "\\b"; break;
        case 0x0c: out += "\\f"; break;
        default:
          out += "\\u" + HEX.charAt(c >> 12) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
      }
    }
    return out + "\"";
  }

  function integer(value) {
    return value < 1e21 ? value.toFixed(0) : String(value);
  }

  // perf's flame graph JSON, byte for byte as JSONRenderer writes it.
  function exportJSON(tree) {
    var quoted = new Array(tree.names.length);
    var parts = [];
    for (var i = 0; i < tree.count; i++) {
      if (i > 0 && tree.parent[i] !== i - 1) parts.push(", ");
      var id = tree.name[i];
      if (quoted[id] === undefined) quoted[id] = pyQuote(tree.names[id]);
      parts.push("{\"n\": ", quoted[id], ", \"l\": \"", KIND_LABELS[tree.kind[i]], "\", \"v\": ",
        integer(tree.self[i]), ", \"c\": [");
      if (tree.end[i] === i + 1) {
        var closing = tree.depth[i] - (i + 1 < tree.count ? tree.depth[i + 1] : 0) + 1;
        for (var c = 0; c < closing; c++) parts.push("]}");
      }
    }
    return parts.join("");
  }

  // Folded stacks, as FoldedRenderer writes them: one line per frame with samples.
  function exportFolded(tree) {
    var folded = new Array(tree.names.length);
    var prefix = [];
    var lines = [];
    for (var i = 1; i < tree.count; i++) {
      var id = tree.name[i];
      if (folded[id] === undefined) folded[id] = tree.names[id].replace(/;/g, ":").replace(/[\r\n]/g, " ");
      var d = tree.depth[i];
      prefix[d] = d === 1 ? folded[id] : prefix[d - 1] + ";" + folded[id];
      if (tree.self[i] > 0) lines.push(prefix[d] + " " + integer(tree.self[i]) + "\n");
    }
    return lines.join("");
  }

  // ==== Colours ====

  function hashName(text) {
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

  // [hue start, hue range, saturation, lightness] per kind; user frames follow the scheme.
  var PALETTES = {
    "blue-green": { user: [165, 50, 48, 58], kernel: [8, 32, 78, 60], jit: [62, 36, 62, 52] },
    orange: { user: [16, 30, 85, 58], kernel: [205, 45, 60, 62], jit: [62, 36, 62, 52] }
  };
  var MATCH_COLOR = "#e62ee6";
  var SLIVER_COLOR = ["#b8bcc2", "#4a4f57"];
  var ROOT_COLOR = ["#c4c8cd", "#5a6069"];

  function frameColor(kind, text, schemeName, dark) {
    if (kind === 0) return ROOT_COLOR[dark ? 1 : 0];
    var palette = PALETTES[schemeName] || PALETTES["blue-green"];
    var p = kind === 2 ? palette.kernel : kind === 3 ? palette.jit : palette.user;
    var h = hashName(text);
    var hue = p[0] + (h % 1024) / 1024 * p[1];
    var saturation = p[2] + ((h >>> 10) % 20);
    var lightness = p[3] + ((h >>> 20) % 14) - (dark ? 22 : 0);
    return "hsl(" + hue.toFixed(1) + "," + saturation + "%," + lightness + "%)";
  }

  function formatPercent(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(2) : "0.00";
  }

  var lib = {
    decode: decode, fromNested: fromNested, toNested: toNested, processes: processes,
    filterProcess: filterProcess, reverse: reverse, compileQuery: compileQuery,
    matchNames: matchNames, matchedTotal: matchedTotal, matchedPercent: matchedPercent,
    search: search, rowRange: rowRange, forEachFrame: forEachFrame, layout: layout,
    hitTest: hitTest, maxDepthUnder: maxDepthUnder, pathOf: pathOf, findPath: findPath,
    exportJSON: exportJSON, exportFolded: exportFolded, pyQuote: pyQuote,
    hashName: hashName, frameColor: frameColor
  };

  // ==== The page ====

  var ROW = 18;            // CSS pixels per row
  var MIN_WIDTH = 1;       // frames narrower than this (CSS pixels) are culled
  var FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';

  function byId(id) { return document.getElementById(id); }
  function readJSON(id, fallback) {
    try { return JSON.parse(byId(id).textContent); } catch (e) { return fallback; }
  }

  var chart = byId("chart");
  var canvas = byId("flame");
  var spacer = byId("spacer");
  var ctx = canvas.getContext("2d");
  var statusLine = byId("status");
  var tooltip = byId("tooltip");
  var note = byId("note");
  var searchBox = byId("search");
  var regexBox = byId("search-regex");
  var caseBox = byId("search-case");
  var matchedLabel = byId("matched");
  var resetButton = byId("reset");
  var viewSelect = byId("view");
  var processSelect = byId("process");
  var help = byId("help");
  var defaultStatus = statusLine.textContent;
  var schemeName = document.body.getAttribute("data-scheme") || "blue-green";
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  // ---- Context panel ----
  var weight = "samples";
  (function fillContext() {
    var context = readJSON("flamed-context", []);
    var list = byId("context");
    if (!Array.isArray(context)) context = [];
    for (var i = 0; i < context.length; i++) {
      var label = String(context[i][0]), value = String(context[i][1]);
      if (label === "weight" && value) weight = value;
      var pair = document.createElement("div");
      pair.className = "field-pair";
      var dt = document.createElement("dt");
      dt.textContent = label;
      var dd = document.createElement("dd");
      dd.textContent = value;
      pair.appendChild(dt);
      pair.appendChild(dd);
      list.appendChild(pair);
    }
    if (context.length === 0) byId("context-panel").hidden = true;
  })();

  // ---- State ----
  var fullTree = decode(readJSON("flamed-data", null));
  var processList = processes(fullTree);
  (function fillProcesses() {
    for (var i = 0; i < processList.length; i++) {
      var option = document.createElement("option");
      option.value = processList[i].name;
      option.textContent = processList[i].name + " (" + formatPercent(processList[i].total, fullTree.total[0]) + "%)";
      processSelect.appendChild(option);
    }
  })();

  var state = { view: "flame", process: "", search: "", regex: false, caseSensitive: false };
  var trees = new Map();   // "process\u0000reversed?" -> tree
  var tree = fullTree;     // the tree shown
  var focus = 0;           // the zoomed frame
  var found = { matches: null, percent: null, text: "" };
  var currentMatch = -1;   // the frame Enter went to
  var colors = [];         // colour per kind * names + name
  var painted = { width: 0, height: 0, scroll: -1, ratio: 0, contentHeight: 0, drawn: 0, culled: 0 };
  var drawnNodes = new Int32Array(1024), drawnX = new Float64Array(1024), drawnY = new Float64Array(1024),
    drawnW = new Float64Array(1024);
  var hover = -1;

  function isDark() { return !!(darkQuery && darkQuery.matches); }

  function treeFor(view, process) {
    var key = process + "\u0000" + (view === "reversed" ? "r" : "f");
    var cached = trees.get(key);
    if (cached) return cached;
    var base = process ? filterProcess(fullTree, process) : fullTree;
    if (base === null) return null;
    var result = view === "reversed" ? reverse(base) : base;
    trees.set(key, result);
    return result;
  }

  function colorOf(node) {
    var kind = tree.kind[node], id = tree.name[node];
    var key = kind * tree.names.length + id;
    var color = colors[key];
    if (color === undefined) {
      color = frameColor(kind, tree.names[id], schemeName, isDark());
      colors[key] = color;
    }
    return color;
  }

  // ---- Geometry: rows on the page ----
  var rowsCache = { tree: null, focus: -1, rows: 0 };
  function rowsShown() {
    if (rowsCache.tree !== tree || rowsCache.focus !== focus) {
      rowsCache.tree = tree;
      rowsCache.focus = focus;
      rowsCache.rows = maxDepthUnder(tree, focus) + 1;
    }
    return rowsCache.rows;
  }
  function contentHeight(viewHeight) { return Math.max(rowsShown() * ROW, viewHeight); }
  // Top of row `depth` in the scrolled content.
  function rowTop(depth, content) {
    return state.view === "flame" ? content - (depth + 1) * ROW : depth * ROW;
  }
  // Row at content position y.
  function rowAt(y, content) {
    return state.view === "flame" ? Math.floor((content - 1 - y) / ROW) : Math.floor(y / ROW);
  }

  function viewSize() {
    return { width: chart.clientWidth, height: chart.clientHeight };
  }

  // Sizes the canvas to the view and the spacer under it so that #chart scrolls over the
  // whole content.
  function sizeSpacer(width, height) {
    var canvasWidth = width + "px", canvasHeight = height + "px";
    if (canvas.style.width !== canvasWidth) canvas.style.width = canvasWidth;
    if (canvas.style.height !== canvasHeight) canvas.style.height = canvasHeight;
    var spacerHeight = Math.max(0, contentHeight(height) - height) + "px";
    if (spacer.style.height !== spacerHeight) spacer.style.height = spacerHeight;
  }

  // ---- Painting ----
  function paint() {
    var size = viewSize();
    var width = size.width, height = size.height;
    var ratio = window.devicePixelRatio || 1;
    var content = contentHeight(height);
    sizeSpacer(width, height);
    var scroll = chart.scrollTop;
    if (scroll > content - height) scroll = Math.max(0, content - height);

    var pixelWidth = Math.max(1, Math.round(width * ratio)), pixelHeight = Math.max(1, Math.round(height * ratio));
    if (canvas.width !== pixelWidth || canvas.height !== pixelHeight) {
      canvas.width = pixelWidth;
      canvas.height = pixelHeight;
    }
    ctx.setTransform(pixelWidth / Math.max(1, width), 0, 0, pixelHeight / Math.max(1, height), 0, 0);
    ctx.clearRect(0, 0, width, height);
    painted.width = width;
    painted.height = height;
    painted.scroll = scroll;
    painted.ratio = ratio;
    painted.contentHeight = content;
    painted.drawn = 0;
    painted.culled = 0;
    if (!(tree.total[0] > 0) || width <= 0 || height <= 0) {
      note.textContent = tree.total[0] > 0 ? "" : "No samples were recorded.";
      return;
    }
    note.textContent = "";

    var dark = isDark();
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    var charWidth = ctx.measureText("MMMMMMMMMM").width / 10 || 7;
    var textColor = dark ? "#f0f3f6" : "#111111";
    var matches = found.matches;
    var dA = rowAt(scroll, content), dB = rowAt(scroll + height - 1, content);
    var d0 = Math.max(0, Math.min(dA, dB)), d1 = Math.min(rowsShown() - 1, Math.max(dA, dB));
    var sliverColor = SLIVER_COLOR[dark ? 1 : 0];
    // Culled frames: each run of adjacent ones under one parent becomes one grey sliver.
    var run = { depth: -1, parent: -1, x: 0, end: 0 };
    var count = 0;

    function flushRun() {
      var w = run.end - run.x;
      if (run.depth >= 0 && w >= 1) {
        ctx.fillStyle = sliverColor;
        ctx.fillRect(run.x, rowTop(run.depth, content) - scroll, w > 2 ? w - 1 : w, ROW - 1);
      }
      run.depth = -1;
    }

    var result = forEachFrame(tree, focus, width, d0, d1, MIN_WIDTH, function (node, depth, x, w) {
      if (run.depth >= 0) flushRun();
      var y = rowTop(depth, content) - scroll;
      ctx.fillStyle = matches && node > 0 && matches[tree.name[node]] ? MATCH_COLOR : colorOf(node);
      ctx.fillRect(x, y, w > 2 ? w - 1 : w, ROW - 1);
      if (w >= 21) {
        var room = Math.floor((w - 6) / charWidth);
        var text = tree.names[tree.name[node]];
        if (text.length > room) text = room >= 2 ? text.slice(0, room - 1) + "\u2026" : "";
        if (text) {
          ctx.fillStyle = textColor;
          ctx.fillText(text, x + 3, y + ROW / 2);
        }
      }
      if (count === drawnNodes.length) growDrawn();
      drawnNodes[count] = node;
      drawnX[count] = x;
      drawnY[count] = y;
      drawnW[count] = w;
      count++;
    }, function (node, depth, x, w) {
      var parent = tree.parent[node];
      if (run.depth === depth && run.parent === parent && x <= run.end + 0.5) {
        run.end = Math.max(run.end, x + w);
      } else {
        flushRun();
        run.depth = depth;
        run.parent = parent;
        run.x = x;
        run.end = x + w;
      }
    });
    flushRun();
    painted.drawn = count;
    painted.culled = result.culled;

    // Outline the frame Enter went to.
    if (currentMatch >= 0) {
      for (var k = 0; k < count; k++) {
        if (drawnNodes[k] === currentMatch) {
          ctx.strokeStyle = dark ? "#ffffff" : "#000000";
          ctx.lineWidth = 2;
          ctx.strokeRect(drawnX[k] + 1, drawnY[k] + 1, Math.max(1, drawnW[k] - 3), ROW - 3);
          break;
        }
      }
    }
  }

  function growDrawn() {
    var n = drawnNodes.length * 2;
    var a = new Int32Array(n); a.set(drawnNodes); drawnNodes = a;
    var b = new Float64Array(n); b.set(drawnX); drawnX = b;
    var c = new Float64Array(n); c.set(drawnY); drawnY = c;
    var d = new Float64Array(n); d.set(drawnW); drawnW = d;
  }

  // Repaint if the size, scroll position or pixel ratio changed since the last paint.
  function paintIfStale() {
    var size = viewSize();
    if (size.width !== painted.width || size.height !== painted.height ||
        chart.scrollTop !== painted.scroll || (window.devicePixelRatio || 1) !== painted.ratio) {
      paint();
    }
  }

  // Scroll so that row `depth` shows (with a few rows of context), or to the start of the view.
  function scrollToRow(depth) {
    var height = chart.clientHeight;
    var content = contentHeight(height);
    var max = Math.max(0, content - height);
    sizeSpacer(chart.clientWidth, height);
    if (depth === undefined) {
      chart.scrollTop = state.view === "flame" ? max : 0;
      return;
    }
    var top = rowTop(depth, content);
    if (top >= chart.scrollTop && top + ROW <= chart.scrollTop + height) return;
    var target = state.view === "flame" ? top + 4 * ROW - height : top - 3 * ROW;
    chart.scrollTop = Math.max(0, Math.min(max, target));
  }

  // ---- Status ----
  function describe(node) {
    var total = tree.total[node];
    return tree.names[tree.name[node]] + "  [" + KIND_NAMES[tree.kind[node]] + "]  self " + tree.self[node] +
      " " + weight + ", total " + total + " " + weight + ", " + formatPercent(total, tree.total[0]) + "% of all, " +
      formatPercent(total, tree.total[focus]) + "% of zoomed frame";
  }

  function tooltipText(node) {
    var total = tree.total[node];
    var lines = [
      tree.names[tree.name[node]],
      "kind:  " + KIND_NAMES[tree.kind[node]],
      "self:  " + tree.self[node] + " " + weight,
      "total: " + total + " " + weight + " (" + formatPercent(total, tree.total[0]) + "% of all)"
    ];
    lines.push("       " + formatPercent(total, tree.total[focus]) + "% of the zoomed frame");
    return lines.join("\n");
  }

  // ---- State changes ----
  function applySearch() {
    found = search(tree, state.search, state.regex, state.caseSensitive);
    matchedLabel.textContent = found.text;
    matchedLabel.className = found.error ? "error" : "";
    currentMatch = -1;
  }

  function setTree(keepPath) {
    var next = treeFor(state.view, state.process);
    if (next === null) {
      state.process = "";
      next = treeFor(state.view, "");
    }
    processSelect.value = state.process;
    viewSelect.value = state.view;
    tree = next;
    colors = [];
    focus = keepPath ? findPath(tree, keepPath) : 0;
    resetButton.disabled = focus === 0;
    applySearch();
  }

  function zoom(node, keepScroll) {
    focus = node;
    resetButton.disabled = node === 0;
    if (!keepScroll) scrollToRow(node === 0 ? undefined : tree.depth[node]);
    paint();
    writeHash();
    hideHover();
  }

  function setView(view) {
    if (view !== "flame" && view !== "icicle" && view !== "reversed") view = "flame";
    var sameTree = (view === "reversed") === (state.view === "reversed");
    var path = sameTree ? pathOf(tree, focus) : null;
    state.view = view;
    setTree(path);
    scrollToRow(focus === 0 ? undefined : tree.depth[focus]);
    paint();
    writeHash();
  }

  function setProcess(process) {
    var path = pathOf(tree, focus);
    state.process = process;
    setTree(path);
    scrollToRow(focus === 0 ? undefined : tree.depth[focus]);
    paint();
    writeHash();
  }

  function setSearch() {
    state.search = searchBox.value;
    state.regex = regexBox.checked;
    state.caseSensitive = caseBox.checked;
    applySearch();
    paint();
    writeHash();
  }

  function clearSearch() {
    searchBox.value = "";
    setSearch();
  }

  // Enter: the next (or previous) matching frame; zooms to it if it is too narrow to see.
  function nextMatch(backwards) {
    if (!found.matches) return;
    var n = tree.count, start = currentMatch >= 0 ? currentMatch : (backwards ? 0 : n - 1);
    for (var step = 1; step < n; step++) {
      var i = backwards ? ((start - step) % n + n) % n : (start + step) % n;
      if (i === 0 || !found.matches[tree.name[i]] || !(tree.total[i] > 0)) continue;
      currentMatch = i;
      var inside = i >= focus && i < tree.end[focus];
      var wide = tree.total[focus] > 0 && tree.total[i] * viewSize().width / tree.total[focus] >= 2;
      if (!inside || !wide) {
        zoom(i);
      } else {
        scrollToRow(tree.depth[i]);
        paint();
      }
      statusLine.textContent = describe(i);
      return;
    }
  }

  // ---- The address: #view=icicle&process=NAME&zoom=a/b/c&search=TEXT&regex=1&case=1 ----
  function writeHash() {
    var parts = [];
    if (state.view !== "flame") parts.push("view=" + state.view);
    if (state.process) parts.push("process=" + encodeURIComponent(state.process));
    if (focus !== 0) parts.push("zoom=" + pathOf(tree, focus).map(encodeURIComponent).join("/"));
    if (state.search) parts.push("search=" + encodeURIComponent(state.search));
    if (state.regex) parts.push("regex=1");
    if (state.caseSensitive) parts.push("case=1");
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (hash === location.hash || (hash === "" && (location.hash === "" || location.hash === "#"))) return;
    try {
      history.replaceState(null, "", hash || location.pathname + location.search);
    } catch (e) {
      ignoreHashChange = true;
      location.hash = hash;
    }
  }

  function readHash() {
    var result = { view: "flame", process: "", zoom: [], search: "", regex: false, caseSensitive: false };
    var text = location.hash.replace(/^#/, "");
    if (!text) return result;
    var parts = text.split("&");
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      var key = eq < 0 ? parts[i] : parts[i].slice(0, eq);
      var raw = eq < 0 ? "" : parts[i].slice(eq + 1);
      try {
        if (key === "view") result.view = decodeURIComponent(raw);
        else if (key === "process") result.process = decodeURIComponent(raw);
        else if (key === "zoom") result.zoom = raw ? raw.split("/").map(decodeURIComponent) : [];
        else if (key === "search") result.search = decodeURIComponent(raw);
        else if (key === "regex") result.regex = raw === "1";
        else if (key === "case") result.caseSensitive = raw === "1";
      } catch (e) { /* a malformed escape: ignore the field */ }
    }
    return result;
  }

  var ignoreHashChange = false;
  function applyHash() {
    var wanted = readHash();
    state.view = wanted.view === "icicle" || wanted.view === "reversed" ? wanted.view : "flame";
    state.process = wanted.process;
    state.search = wanted.search;
    state.regex = wanted.regex;
    state.caseSensitive = wanted.caseSensitive;
    searchBox.value = state.search;
    regexBox.checked = state.regex;
    caseBox.checked = state.caseSensitive;
    setTree(wanted.zoom);
    scrollToRow(focus === 0 ? undefined : tree.depth[focus]);
    paint();
  }

  // ---- Mouse ----
  function eventFrame(event) {
    var rect = canvas.getBoundingClientRect();
    if (rect.width <= 0) return -1;
    var x = (event.clientX - rect.left) * painted.width / rect.width;
    var y = event.clientY - rect.top;
    paintIfStale();
    var depth = rowAt(y + painted.scroll, painted.contentHeight);
    if (depth >= rowsShown()) return -1;
    return hitTest(tree, focus, painted.width, depth, x, MIN_WIDTH);
  }

  function hideHover() {
    hover = -1;
    tooltip.hidden = true;
    statusLine.textContent = defaultStatus;
  }

  canvas.addEventListener("mousemove", function (event) {
    var node = eventFrame(event);
    if (node < 0) { hideHover(); return; }
    if (node !== hover) {
      hover = node;
      statusLine.textContent = describe(node);
      tooltip.textContent = tooltipText(node);
    }
    tooltip.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 16;
    var w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, event.clientX - w - 10);
    if (y + h > window.innerHeight - 4) y = Math.max(4, event.clientY - h - 10);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  });
  canvas.addEventListener("mouseleave", hideHover);
  canvas.addEventListener("click", function (event) {
    var node = eventFrame(event);
    if (node >= 0) zoom(node);
  });
  chart.addEventListener("scroll", function () {
    if (chart.scrollTop !== painted.scroll) paint();
  });

  // ---- Controls ----
  resetButton.addEventListener("click", function () { zoom(0); });
  viewSelect.addEventListener("change", function () { setView(viewSelect.value); });
  processSelect.addEventListener("change", function () { setProcess(processSelect.value); });
  searchBox.addEventListener("input", setSearch);
  regexBox.addEventListener("change", setSearch);
  caseBox.addEventListener("change", setSearch);

  function download(text, filename, type) {
    var blob = new Blob([text], { type: type });
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.download = filename;
    link.href = url;
    link.style.display = "none";
    document.body.appendChild(link);
    link.click();
    document.body.removeChild(link);
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }
  byId("export-json").addEventListener("click", function () {
    download(exportJSON(fullTree), "stacks.json", "application/json");
  });
  byId("export-folded").addEventListener("click", function () {
    download(exportFolded(fullTree), "stacks.folded", "text/plain");
  });

  function toggleHelp(open) {
    if (open === undefined) open = !help.classList.contains("open");
    help.classList.toggle("open", open);
  }
  byId("help-button").addEventListener("click", function () { toggleHelp(); });
  help.addEventListener("click", function (event) { if (event.target === help) toggleHelp(false); });

  // ---- Keys ----
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" && target.type !== "checkbox" ||
      target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "f" || event.key === "F")) {
      event.preventDefault();
      toggleHelp(false);
      searchBox.focus();
      searchBox.select();
      return;
    }
    if (event.key === "Escape") {
      if (help.classList.contains("open")) toggleHelp(false);
      else if (searchBox.value !== "") clearSearch();
      else if (focus !== 0) zoom(0);
      else if (target === searchBox) searchBox.blur();
      event.preventDefault();
      return;
    }
    if (event.key === "Enter" && (target === searchBox || !typing && !(target && target.tagName === "BUTTON"))) {
      event.preventDefault();
      nextMatch(event.shiftKey);
      return;
    }
    if (event.key === "?" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      toggleHelp();
    }
  });

  // ---- Size, pixel ratio, colour scheme ----
  var resizePending = false;
  function onResize() {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(function () {
      resizePending = false;
      var size = viewSize();
      if (size.width !== painted.width || size.height !== painted.height) {
        var wasAtBottom = painted.scroll >= painted.contentHeight - painted.height - 1;
        if (state.view === "flame" && wasAtBottom) {
          chart.scrollTop = Math.max(0, contentHeight(size.height) - size.height);
        }
      }
      paintIfStale();
    });
  }
  window.addEventListener("resize", onResize);
  if (typeof ResizeObserver === "function") new ResizeObserver(onResize).observe(chart);
  if (darkQuery) {
    var onScheme = function () { colors = []; paint(); };
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", onScheme);
    else if (darkQuery.addListener) darkQuery.addListener(onScheme);
  }
  window.addEventListener("hashchange", function () {
    if (ignoreHashChange) { ignoreHashChange = false; return; }
    applyHash();
  });

  // ---- Test hook ----
  function frameRect(text) {
    paintIfStale();
    for (var k = 0; k < painted.drawn; k++) {
      var node = drawnNodes[k];
      if (tree.names[tree.name[node]] === text) return { x: drawnX[k], y: drawnY[k], w: drawnW[k], h: ROW - 1 };
    }
    // Not in the rows on screen: where it would be, relative to the canvas (scroll #chart).
    var rect = null;
    forEachFrame(tree, focus, painted.width, 0, rowsShown() - 1, MIN_WIDTH, function (node, depth, x, w) {
      if (rect === null && tree.names[tree.name[node]] === text) {
        rect = { x: x, y: rowTop(depth, painted.contentHeight) - painted.scroll, w: w, h: ROW - 1 };
      }
    });
    return rect;
  }

  var isReady = false;
  var hook = {
    get ready() { return isReady; },
    lib: lib,
    tree: function () { return tree; },
    fullTree: function () { return fullTree; },
    stats: function () {
      paintIfStale();
      return {
        nodes: fullTree.count,
        framesDrawn: painted.drawn,
        culled: painted.culled,
        zoomName: focus === 0 ? null : tree.names[tree.name[focus]],
        view: state.view,
        process: state.process,
        search: state.search,
        matchedPercent: found.percent === null ? null : Number(found.percent.toFixed(1))
      };
    },
    frameRect: frameRect,
    exportJSON: function () { return exportJSON(fullTree); },
    exportFolded: function () { return exportFolded(fullTree); }
  };
  Object.freeze(lib);
  Object.freeze(hook);
  Object.defineProperty(window, "flamedViewer", { value: hook, enumerable: true });

  applyHash();
  isReady = true;
  if (window.performance && performance.mark) performance.mark("flamed-first-paint");
})();
