import FlamedTestSupport
import FlameGraph
import FlameRender
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium, driven over the DevTools protocol by `Browser/cdp.py`.
///
/// Each `run` starts a fresh browser with a fresh profile, opens one page, performs the
/// steps (real mouse and keyboard events, evaluations, screenshots) and returns what the
/// driver collected: step results, console errors, exceptions, network requests and CSP
/// violations. See the driver's docstring for the steps.
enum ViewerBrowser {
    static let driver = Support.packageRoot.appendingPathComponent("Tests/FlamedIntegrationTests/Browser/cdp.py").path

    static let chromium: String? = Requirement.chromium.path
    static let python: String? = Requirement.python3.path

    static func requireBrowser() throws {
        for requirement in [Requirement.python3, .chromium] {
            try #require(requirement.missingReason == nil, "\(requirement.missingReason ?? "")")
        }
    }

    /// What one driver run returned.
    struct Run {
        var raw: [String: Any]
        var ok: Bool { raw["ok"] as? Bool ?? false }
        var error: String? { raw["error"] as? String }
        var results: [String: Any] { raw["results"] as? [String: Any] ?? [:] }
        var errors: [String] { (raw["errors"] as? [[String: Any]] ?? []).map { "\($0["source"] ?? ""): \($0["text"] ?? "")" } }
        var exceptions: [String] { (raw["exceptions"] as? [[String: Any]] ?? []).map { "\($0["text"] ?? "")" } }
        var externalRequests: [String] { raw["externalRequests"] as? [String] ?? [] }
        var cspViolations: [String] { (raw["cspViolations"] as? [[String: Any]] ?? []).map { "\($0)" } }
        /// Steps that failed without stopping the run (optional steps).
        var stepErrors: [String] { (raw["steps"] as? [[String: Any]] ?? []).compactMap { $0["error"] as? String } }

        subscript(key: String) -> Any? {
            let value = results[key]
            return value is NSNull ? nil : value
        }
        func string(_ key: String) -> String? { self[key] as? String }
        func bool(_ key: String) -> Bool? { self[key] as? Bool }
        func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
        func object(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
        func failure(_ key: String) -> String? { object(key)?["__error"] as? String }

        /// Everything that went wrong on the page, for failure messages.
        var summary: String {
            var lines: [String] = []
            if let error { lines.append("driver: \(error)") }
            lines += stepErrors.map { "step: \($0)" }
            lines += errors.map { "console: \($0)" }
            lines += exceptions.map { "exception: \($0)" }
            lines += externalRequests.map { "request: \($0)" }
            lines += cspViolations.map { "csp: \($0)" }
            return lines.isEmpty ? "(nothing)" : lines.joined(separator: "\n")
        }
    }

    /// Opens `page` in a fresh headless Chromium and performs `steps`. Steps are optional
    /// unless they say otherwise: a failing one is recorded and the run goes on.
    static func run(_ page: URL, steps: [[String: Any]], width: Int = 1280, height: Int = 900, timeout: Double = 180) throws -> Run {
        try requireBrowser()
        let script: [String: Any] = [
            "url": page.absoluteString,
            "chromium": chromium ?? "",
            "width": width, "height": height,
            "timeout": timeout,
            "stepTimeout": 30,
            "steps": steps.map { step in
                var step = step
                if step["optional"] == nil && step["op"] as? String != "open" { step["optional"] = true }
                return step
            },
        ]
        let directory = Support.temporaryDirectory("cdp")
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptURL = directory.appendingPathComponent("script.json")
        try JSONSerialization.data(withJSONObject: script).write(to: scriptURL)
        let outPath = directory.appendingPathComponent("out.json").path
        let errPath = directory.appendingPathComponent("err.txt").path
        guard let pid = Support.spawn([python!, driver, "run", scriptURL.path], stdout: outPath, stderr: errPath) else {
            throw DriverError(message: "cannot start \(driver)")
        }
        if Support.wait(pid, timeout: timeout + 30) == nil {
            kill(pid, SIGTERM)  // the driver kills its browser on SIGTERM
            if Support.wait(pid, timeout: 15) == nil {
                kill(pid, SIGKILL)
                _ = Support.wait(pid, timeout: 5)
            }
        }
        let out = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        guard let object = try? JSONSerialization.jsonObject(with: out) as? [String: Any] else {
            throw DriverError(message: "the driver printed no result: \(String(decoding: out.prefix(2000), as: UTF8.self)) \(err.suffix(2000))")
        }
        return Run(raw: object)
    }

    struct DriverError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A JavaScript string literal for `text`.
    static func js(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed])
        return String(decoding: data, as: UTF8.self)
    }

    /// Steps.
    static let ready = "window.flamedViewer && window.flamedViewer.ready === true"
    static func waitReady() -> [String: Any] { ["op": "wait", "expr": ready, "as": "ready", "optional": false] }
    static func eval(_ expression: String, as key: String) -> [String: Any] { ["op": "eval", "expr": expression, "as": key] }
    static func wait(_ expression: String, as key: String? = nil, timeout: Double = 10) -> [String: Any] {
        var step: [String: Any] = ["op": "wait", "expr": expression, "timeout": timeout]
        if let key { step["as"] = key }
        return step
    }
    static func stats(as key: String) -> [String: Any] { eval("JSON.parse(JSON.stringify(flamedViewer.stats()))", as: key) }
    static func rect(_ name: String, as key: String) -> [String: Any] { eval("flamedViewer.frameRect(\(js(name)))", as: key) }
    static func text(_ selector: String, as key: String) -> [String: Any] {
        eval("(document.querySelector(\(js(selector))) || {}).textContent", as: key)
    }
    /// Types `query` into the search box with real key events and waits until the viewer has
    /// applied it; `#matched`'s text is stored under `key`.
    static func search(_ query: String, as key: String) -> [[String: Any]] {
        [
            ["op": "type", "selector": "#search", "text": query, "clear": true],
            wait("flamedViewer.stats().search === \(js(query)) && document.getElementById('matched').textContent !== ''", timeout: 10),
            text("#matched", as: key),
        ]
    }
    /// Sets a checkbox with a real click unless it already has that state.
    static func checkbox(_ selector: String, _ checked: Bool) -> [[String: Any]] {
        let element = "document.querySelector(\(js(selector)))"
        return [
            ["op": "click", "selector": selector, "if": "\(element) && \(element).checked !== \(checked)"],
            wait("\(element).checked === \(checked)", timeout: 5),
        ]
    }
    /// Takes the focus away from any input, as a click on an empty spot would.
    static var blur: [String: Any] { ["op": "eval", "expr": "document.activeElement && document.activeElement.blur && document.activeElement.blur(), true"] }
}

/// Builds flame trees from folded-style stacks.
enum KnownTree {
    struct Stack {
        var frames: [String]
        var value: UInt64
        var kinds: [String: FrameKind] = [:]
    }

    static func make(_ stacks: [Stack]) -> FlameTree {
        var tree = FlameTree()
        for stack in stacks {
            var node = FlameTree.root
            for frame in stack.frames {
                node = tree.child(of: node, name: tree.intern(frame), kind: stack.kinds[frame] ?? .user)
            }
            tree.add(stack.value, to: node)
        }
        return tree
    }

    /// The tree used by most tests: two processes, a kernel and a JIT frame, values chosen
    /// so that no percentage below lands on a rounding tie.
    ///   app (100);main;outer_alpha;middle_beta;leaf_gamma   97
    ///   app (100);main;outer_alpha;leaf_delta                53
    ///   app (100);main;outer_alpha;leaf_delta;sys_write       7  (kernel)
    ///   app (100);main;outer_epsilon;leaf_gamma              41
    ///   app (100);main                                       13
    ///   db (200);main;query_run;leaf_gamma                   29
    ///   db (200);main;query_run;parse_sql                    17
    ///   db (200);main;Query_Plan                             11
    ///   db (200);main;jit_compiled_loop                      19  (jit)
    static let stacks: [Stack] = [
        Stack(frames: ["app (100)", "main", "outer_alpha", "middle_beta", "leaf_gamma"], value: 97),
        Stack(frames: ["app (100)", "main", "outer_alpha", "leaf_delta"], value: 53),
        Stack(frames: ["app (100)", "main", "outer_alpha", "leaf_delta", "sys_write"], value: 7, kinds: ["sys_write": .kernel]),
        Stack(frames: ["app (100)", "main", "outer_epsilon", "leaf_gamma"], value: 41),
        Stack(frames: ["app (100)", "main"], value: 13),
        Stack(frames: ["db (200)", "main", "query_run", "leaf_gamma"], value: 29),
        Stack(frames: ["db (200)", "main", "query_run", "parse_sql"], value: 17),
        Stack(frames: ["db (200)", "main", "Query_Plan"], value: 11),
        Stack(frames: ["db (200)", "main", "jit_compiled_loop"], value: 19, kinds: ["jit_compiled_loop": .jit]),
    ]

    static var tree: FlameTree { make(stacks) }

    /// The share of the root's total in frames whose name matches, not counting a matching
    /// frame under another matching frame twice, as `Matched: 12.5%` text.
    static func matchedText(_ tree: FlameTree, _ matches: (String) -> Bool) -> String {
        let totals = tree.totals()
        var sum: UInt64 = 0
        var stack = tree.children(of: FlameTree.root)
        while let node = stack.popLast() {
            if matches(tree.name(of: node)) {
                sum += totals[Int(node)]
            } else {
                stack += tree.children(of: node)
            }
        }
        return "Matched: " + String(format: "%.1f", Double(sum) * 100 / Double(totals[0])) + "%"
    }

    /// The node count of the reversed tree (root, then the functions samples end in, then
    /// their callers, up to the process frames), root included.
    static func reversedNodeCount(_ tree: FlameTree) -> Int {
        var reversed = FlameTree()
        for node in 1 ..< tree.nodeCount where tree.nodeValue[node] > 0 {
            var path: [Int32] = []
            var current = Int32(node)
            while current != FlameTree.root {
                path.append(current)
                current = tree.nodeParent[Int(current)]
            }
            var at = FlameTree.root
            for frame in path {
                at = reversed.child(of: at, name: reversed.intern(tree.name(of: frame)), kind: tree.nodeKind[Int(frame)])
            }
            reversed.add(tree.nodeValue[node], to: at)
        }
        return reversed.nodeCount
    }

    /// Writes `tree` as a viewer page into `directory`.
    static func page(_ tree: FlameTree, in directory: URL, name: String = "viewer.html", title: String = "flamed test") throws -> URL {
        var context = ProfileContext(events: ["cpu-clock"], samples: tree.totals()[0])
        context.hostname = "testhost"
        let url = directory.appendingPathComponent(name)
        try Data(HTMLRenderer.render(tree, context: context, title: title)).write(to: url)
        return url
    }

    /// A JSON flame tree with children in a canonical order (by name, then kind).
    static func canonical(_ value: Any) -> Any {
        guard let node = value as? [String: Any] else { return value }
        var result = node
        if let children = node["c"] as? [Any] {
            let canonicalChildren = children.map(canonical)
            result["c"] = canonicalChildren.sorted { a, b in
                let x = a as? [String: Any] ?? [:], y = b as? [String: Any] ?? [:]
                let kx = "\(x["n"] ?? "")\u{0}\(x["l"] ?? "")", ky = "\(y["n"] ?? "")\u{0}\(y["l"] ?? "")"
                return kx < ky
            }
        }
        return result
    }
}

/// The number of `<script` elements in the viewer's template: the page's own scripts.
private let templateScriptCount: Int = {
    let template = (try? String(contentsOf: Support.packageRoot.appendingPathComponent("Sources/FlameRender/Viewer/viewer.html"), encoding: .utf8)) ?? ""
    return template.components(separatedBy: "<script").count - 1
}()

/// Whether a stats field is absent, null or empty.
private func blank(_ value: Any?) -> Bool {
    guard let value, !(value is NSNull) else { return true }
    return (value as? String)?.isEmpty ?? false
}

/// Where screenshots go: `.build/artifacts/` in the package.
private func artifactPath(_ name: String) -> URL {
    let directory = Support.packageRoot.appendingPathComponent(".build/artifacts")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name)
}

/// JavaScript that proves a page ran nothing it was not meant to: an object with the
/// `__pwned` marker, the dangerous elements, script elements, `on*` attributes and
/// javascript: URLs found in the document.
private let safetyProbe = """
(() => {
  const all = Array.from(document.querySelectorAll('*'));
  const handlers = [];
  const urls = [];
  for (const element of all) {
    for (const attribute of Array.from(element.attributes)) {
      if (/^on/i.test(attribute.name)) handlers.push(element.tagName + ' ' + attribute.name);
      if (/^\\s*javascript:/i.test(attribute.value)) urls.push(element.tagName + ' ' + attribute.name);
    }
  }
  return {
    pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),
    dangerous: document.querySelectorAll('svg, img, iframe, object, embed, frame, frameset, base, meta[http-equiv=refresh]').length,
    scripts: document.querySelectorAll('script').length,
    handlers: handlers,
    urls: urls
  };
})()
"""

@Suite(.serialized, .requires(.python3, .chromium))
struct ViewerBrowserTests {
    typealias B = ViewerBrowser

    /// Checks a run for page errors, exceptions, network use and driver failures.
    func expectClean(_ run: ViewerBrowser.Run, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.ok, "\(what): the driver failed: \(run.summary)", sourceLocation: sourceLocation)
        #expect(run.errors.isEmpty, "\(what): console errors: \(run.errors)", sourceLocation: sourceLocation)
        #expect(run.exceptions.isEmpty, "\(what): exceptions: \(run.exceptions)", sourceLocation: sourceLocation)
        #expect(run.externalRequests.isEmpty, "\(what): network requests: \(run.externalRequests)", sourceLocation: sourceLocation)
        #expect(run.cspViolations.isEmpty, "\(what): CSP violations: \(run.cspViolations)", sourceLocation: sourceLocation)
    }

    @Test("load: no console errors, no network, every frame of the known tree drawn, first-paint mark, a screenshot")
    func load() throws {
        let directory = Support.temporaryDirectory()
        let tree = KnownTree.tree
        let page = try KnownTree.page(tree, in: directory)
        let screenshot = artifactPath("viewer-known-tree.png")
        try? FileManager.default.removeItem(at: screenshot)
        let run = try B.run(page, steps: [
            B.waitReady(),
            B.stats(as: "stats"),
            B.eval("performance.getEntriesByName('flamed-first-paint').length", as: "marks"),
            B.text("#matched", as: "matched"),
            B.eval("['flame','chart','search','search-regex','search-case','matched','reset','view','process','status','help','context','export-json','export-folded'].filter(id => !document.getElementById(id))", as: "missing"),
            B.eval("document.getElementById('flame').tagName", as: "canvasTag"),
            B.eval("(() => { const h = document.getElementById('help'); return h ? h.classList.contains('open') : null; })()", as: "helpOpenAtStart"),
            B.eval("Array.from(document.querySelectorAll('#view option')).map(o => o.value)", as: "views"),
            B.eval("Array.from(document.querySelectorAll('#process option')).map(o => o.value)", as: "processes"),
            B.eval("(document.getElementById('context') || {}).textContent || ''", as: "context"),
            B.blur,
            ["op": "key", "key": "?"],
            B.eval("document.getElementById('help').classList.contains('open')", as: "helpOpen"),
            ["op": "key", "key": "?"],
            B.eval("document.getElementById('help').classList.contains('open')", as: "helpClosed"),
            ["op": "hover", "frame": "parse_sql"],
            B.wait("(document.getElementById('status').textContent || '').includes('parse_sql')", as: "statusShowsFrame", timeout: 5),
            B.text("#status", as: "status"),
            ["op": "hover", "x": 2, "y": 2],
            ["op": "screenshot", "path": screenshot.path, "as": "screenshot"],
        ])
        expectClean(run, "loading the known tree")
        let stats = try #require(run.object("stats"), "flamedViewer.stats(): \(run.summary)")
        #expect((stats["nodes"] as? Int) == tree.nodeCount, "stats().nodes \(stats["nodes"] ?? "nil") vs \(tree.nodeCount) nodes in the tree (root included)")
        #expect((stats["framesDrawn"] as? Int) == tree.nodeCount, "every node of the known tree, root included, is wide enough to draw: framesDrawn \(stats["framesDrawn"] ?? "nil") vs \(tree.nodeCount)")
        #expect((stats["culled"] as? Int) == 0, "culled: \(stats["culled"] ?? "nil")")
        #expect((stats["view"] as? String) == "flame", "the default view: \(stats["view"] ?? "nil")")
        #expect(blank(stats["zoomName"]), "no zoom at start: \(stats["zoomName"] ?? "nil")")
        #expect(blank(stats["search"]))
        #expect(blank(stats["process"]))
        #expect(run.double("marks") == 1, "performance.mark('flamed-first-paint') once: \(run["marks"] ?? "nil")")
        #expect(run.string("matched") == "", "no search, no #matched text: \(run["matched"] ?? "nil")")
        #expect((run["missing"] as? [String]) == [], "elements of the contract missing: \(run["missing"] ?? "nil")")
        #expect(run.string("canvasTag") == "CANVAS")
        #expect(run.bool("helpOpenAtStart") == false)
        #expect(run.bool("helpOpen") == true, "? opens #help: \(run["helpOpen"] ?? "nil")")
        #expect(run.bool("helpClosed") == false, "? again closes #help: \(run["helpClosed"] ?? "nil")")
        #expect(Set((run["views"] as? [String]) ?? []).isSuperset(of: ["flame", "icicle", "reversed"]), "#view options: \(run["views"] ?? "nil")")
        #expect((run["processes"] as? [String]) == ["", "app (100)", "db (200)"], "#process options: all, then one per process node: \(run["processes"] ?? "nil")")
        #expect(run.string("context")?.contains("testhost") == true, "the context panel lists the host: \(run["context"] ?? "nil")")
        #expect(run.string("status")?.contains("parse_sql") == true, "hovering a frame names it in #status: \(run["status"] ?? "nil")")

        let shot = try #require(run.object("screenshot"), "screenshot: \(run.summary)")
        let size = (try? FileManager.default.attributesOfItem(atPath: screenshot.path)[.size] as? Int) ?? 0
        #expect(size > 1000, "the screenshot \(screenshot.path) has \(size) bytes")
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        print("viewer screenshot: \(shot["path"] ?? screenshot.path) (\(size) bytes)")
        Attachment.record(png, named: "viewer-known-tree.png")
    }

    @Test("search: substring, case, regex and an invalid regex give #matched as computed from the tree")
    func search() throws {
        let directory = Support.temporaryDirectory()
        let tree = KnownTree.tree
        let page = try KnownTree.page(tree, in: directory)
        var steps: [[String: Any]] = [B.waitReady()]
        steps += B.checkbox("#search-case", false)
        steps += B.checkbox("#search-regex", false)
        steps += B.search("gamma", as: "gamma")
        steps.append(B.stats(as: "gammaStats"))
        steps += B.search("outer", as: "outer")
        steps += B.search("QUERY", as: "queryAnyCase")
        steps += B.checkbox("#search-case", true)
        steps += [B.wait("document.getElementById('matched').textContent === 'Matched: 0.0%'", timeout: 5), B.text("#matched", as: "queryUpperMatchCase")]
        steps += B.search("query", as: "queryMatchCase")
        steps += B.checkbox("#search-case", false)
        steps += B.checkbox("#search-regex", true)
        steps += B.search("^leaf_(gamma|delta)$", as: "regex")
        steps += B.search("alpha|gamma", as: "nested")
        steps += B.search("(", as: "invalid")
        steps.append(B.eval("location.hash", as: "hash"))
        steps.append(B.eval("flamedViewer.lib ? Object.keys(flamedViewer.lib) : null", as: "lib"))
        let run = try B.run(page, steps: steps)
        expectClean(run, "searching")

        func expected(_ matches: (String) -> Bool) -> String { KnownTree.matchedText(tree, matches) }
        let gamma = expected { $0.lowercased().contains("gamma") }
        #expect(gamma == "Matched: 58.2%")  // (97 + 41 + 29) / 287
        #expect(run.string("gamma") == gamma, "search gamma: \(run["gamma"] ?? "nil") vs \(gamma)")
        let percent = (run.object("gammaStats")?["matchedPercent"] as? NSNumber)?.doubleValue ?? -1
        #expect(abs(percent - 58.19) < 0.05, "stats().matchedPercent \(percent)")
        #expect(run.string("outer") == expected { $0.contains("outer") }, "search outer: \(run["outer"] ?? "nil")")
        let anyCase = expected { $0.lowercased().contains("query") }
        let matchCase = expected { $0.contains("query") }
        #expect(anyCase != matchCase)
        #expect(run.string("queryAnyCase") == anyCase, "QUERY without match case: \(run["queryAnyCase"] ?? "nil") vs \(anyCase)")
        #expect(run.string("queryUpperMatchCase") == "Matched: 0.0%", "QUERY with match case: \(run["queryUpperMatchCase"] ?? "nil")")
        #expect(run.string("queryMatchCase") == matchCase, "query with match case: \(run["queryMatchCase"] ?? "nil") vs \(matchCase)")
        let regex = expected { $0 == "leaf_gamma" || $0 == "leaf_delta" }
        #expect(run.string("regex") == regex, "regex: \(run["regex"] ?? "nil") vs \(regex)")
        let nested = expected { $0.contains("alpha") || $0.contains("gamma") }
        #expect(nested == "Matched: 79.1%", "a match under a match counts once")
        #expect(run.string("nested") == nested, "alpha|gamma: \(run["nested"] ?? "nil") vs \(nested)")
        #expect(run.string("invalid")?.hasPrefix("Invalid regex") == true, "an invalid regex: \(run["invalid"] ?? "nil")")
        #expect(run.string("hash")?.isEmpty == false, "the search is kept in the URL hash: \(run["hash"] ?? "nil")")
        #expect(run["lib"] is [String], "flamedViewer.lib: \(run["lib"] ?? "nil")")
    }

    @Test("a click on a frame zooms (state in the hash, kept on reload); #reset restores")
    func zoom() throws {
        let directory = Support.temporaryDirectory()
        let tree = KnownTree.tree
        let page = try KnownTree.page(tree, in: directory)
        let run = try B.run(page, steps: [
            B.waitReady(),
            B.eval("location.hash", as: "hashBefore"),
            ["op": "click", "frame": "outer_alpha", "as": "clickedAt"],
            B.wait("flamedViewer.stats().zoomName === 'outer_alpha'", timeout: 10),
            B.stats(as: "zoomed"),
            B.eval("location.hash", as: "hashZoomed"),
            B.rect("outer_alpha", as: "zoomedRect"),
            B.eval("document.getElementById('flame').getBoundingClientRect().width", as: "canvasWidth"),
            B.rect("outer_epsilon", as: "siblingRect"),
            B.eval("document.getElementById('reset').disabled", as: "resetDisabledWhenZoomed"),
            ["op": "reload", "waitFor": B.ready],
            B.stats(as: "reloaded"),
            ["op": "click", "selector": "#reset"],
            B.wait("!flamedViewer.stats().zoomName", timeout: 10),
            B.stats(as: "reset"),
            B.eval("location.hash", as: "hashReset"),
            B.rect("outer_epsilon", as: "siblingRectAfterReset"),
        ])
        expectClean(run, "zooming")
        #expect(run.object("zoomed")?["zoomName"] as? String == "outer_alpha", "a click on outer_alpha zooms to it: \(run["zoomed"] ?? "nil") \(run.summary)")
        #expect(run.string("hashZoomed") != run.string("hashBefore"), "the hash changes on zoom: \(run["hashBefore"] ?? "nil") -> \(run["hashZoomed"] ?? "nil")")
        if let rect = run.object("zoomedRect"), let width = run.double("canvasWidth") {
            let w = (rect["w"] as? NSNumber)?.doubleValue ?? 0
            #expect(w > width * 0.9, "the zoomed frame spans the width: \(w) of \(width)")
        } else {
            Issue.record("frameRect after zoom: \(run["zoomedRect"] ?? "nil")")
        }
        #expect(run["siblingRect"] == nil, "outer_epsilon, outside the zoomed frame, is not drawn: \(run["siblingRect"] ?? "nil")")
        #expect(run.bool("resetDisabledWhenZoomed") != true)
        #expect(run.object("reloaded")?["zoomName"] as? String == "outer_alpha", "the zoom survives a reload (URL hash): \(run["reloaded"] ?? "nil")")
        #expect(blank(run.object("reset")?["zoomName"]), "#reset unzooms: \(run["reset"] ?? "nil")")
        #expect((run.object("reset")?["framesDrawn"] as? Int) == tree.nodeCount)
        #expect(run["siblingRectAfterReset"] != nil)
        #expect(run.string("hashReset") != run.string("hashZoomed"))
    }

    @Test("views: icicle puts the root on top, flame at the bottom; reversed starts at the leaf functions")
    func views() throws {
        let directory = Support.temporaryDirectory()
        let tree = KnownTree.tree
        let page = try KnownTree.page(tree, in: directory)
        let frames = ["all", "app (100)", "outer_alpha", "leaf_delta", "leaf_gamma", "middle_beta", "parse_sql", "sys_write", "query_run"]
        func rects(_ prefix: String) -> [[String: Any]] { frames.map { B.rect($0, as: prefix + $0) } }
        var steps: [[String: Any]] = [B.waitReady()]
        steps += rects("flame.")
        steps += [["op": "select", "selector": "#view", "value": "icicle"], B.wait("flamedViewer.stats().view === 'icicle'"), ["op": "frames"], B.stats(as: "icicle")]
        steps += rects("icicle.")
        steps += [B.eval("location.hash", as: "icicleHash")]
        steps += [["op": "select", "selector": "#view", "value": "reversed"], B.wait("flamedViewer.stats().view === 'reversed'"), ["op": "frames"], B.stats(as: "reversed")]
        steps += rects("reversed.")
        steps += [["op": "click", "frame": "leaf_gamma"], B.wait("flamedViewer.stats().zoomName === 'leaf_gamma'"), B.stats(as: "reversedZoomed")]
        steps += [["op": "reload", "waitFor": B.ready], B.stats(as: "reversedReloaded")]
        steps += [["op": "click", "selector": "#reset"], B.wait("!flamedViewer.stats().zoomName")]
        steps += [["op": "select", "selector": "#view", "value": "flame"], B.wait("flamedViewer.stats().view === 'flame'"), B.stats(as: "flame")]
        steps += [["op": "select", "selector": "#process", "value": "db (200)"], B.wait("flamedViewer.stats().process === 'db (200)'"), ["op": "frames"], B.stats(as: "db")]
        steps += [B.rect("outer_alpha", as: "dbOuter"), B.rect("query_run", as: "dbQuery"), B.eval("location.hash", as: "dbHash")]
        steps += [["op": "select", "selector": "#process", "value": ""], B.wait("!flamedViewer.stats().process"), B.stats(as: "allProcesses")]
        let run = try B.run(page, steps: steps)
        expectClean(run, "switching views")

        func y(_ key: String) -> Double? { (run.object(key)?["y"] as? NSNumber)?.doubleValue }
        func rows(_ view: String, _ frame: String, unit: Double) -> Double? {
            guard let a = y(view + "." + frame), let root = y(view + ".all"), unit > 0 else { return nil }
            return (abs(a - root) / unit * 10).rounded() / 10
        }
        // Flame: the root at the bottom, each level one row up.
        if let root = y("flame.all"), let process = y("flame.app (100)") {
            #expect(root > process, "flame view: the root below its children (\(root) vs \(process))")
            let unit = root - process
            #expect(rows("flame", "outer_alpha", unit: unit) == 3)
            #expect(rows("flame", "leaf_delta", unit: unit) == 4)
        } else {
            Issue.record("frameRect in the flame view: \(run.summary)")
        }
        // Icicle: the root on top.
        if let root = y("icicle.all"), let process = y("icicle.app (100)") {
            #expect(root < process, "icicle view: the root above its children (\(root) vs \(process))")
            #expect(rows("icicle", "leaf_delta", unit: process - root) == 4)
        } else {
            Issue.record("frameRect in the icicle view: \(run.summary)")
        }
        #expect(run.string("icicleHash")?.isEmpty == false, "the view is in the hash")
        // Reversed: the root's children are the functions samples end in.
        if let root = y("reversed.all"), let gamma = y("reversed.leaf_gamma") {
            let unit = abs(gamma - root)
            #expect(unit > 0)
            for leaf in ["leaf_delta", "parse_sql", "sys_write"] {
                #expect(rows("reversed", leaf, unit: unit) == 1, "reversed: \(leaf) is a child of the root")
            }
            #expect(rows("reversed", "middle_beta", unit: unit) == 2, "reversed: middle_beta calls leaf_gamma")
            #expect(rows("reversed", "query_run", unit: unit) == 2, "reversed: query_run calls leaf_gamma and parse_sql")
        } else {
            Issue.record("frameRect in the reversed view: \(run.summary)")
        }
        let reversedCount = KnownTree.reversedNodeCount(tree)
        #expect((run.object("reversed")?["framesDrawn"] as? Int) == reversedCount, "reversed tree: \(run["reversed"] ?? "nil") vs \(reversedCount) nodes")
        #expect((run.object("icicle")?["framesDrawn"] as? Int) == tree.nodeCount)
        #expect(run.object("reversedZoomed")?["zoomName"] as? String == "leaf_gamma", "zoom in the reversed view: \(run["reversedZoomed"] ?? "nil")")
        #expect(run.object("reversedReloaded")?["view"] as? String == "reversed", "view survives a reload: \(run["reversedReloaded"] ?? "nil")")
        #expect(run.object("reversedReloaded")?["zoomName"] as? String == "leaf_gamma")
        #expect(run.object("flame")?["view"] as? String == "flame")
        // One process: only its frames.
        #expect(run.object("db")?["process"] as? String == "db (200)", "process filter: \(run["db"] ?? "nil")")
        #expect(run["dbOuter"] == nil, "app's outer_alpha is hidden when db is chosen: \(run["dbOuter"] ?? "nil")")
        #expect(run["dbQuery"] != nil, "db's query_run is drawn")
        #expect(run.string("dbHash")?.isEmpty == false)
        #expect((run.object("allProcesses")?["framesDrawn"] as? Int) == tree.nodeCount)
    }

    @Test("export: exportJSON equals JSONRenderer's output, exportFolded FoldedRenderer's (as sets of lines)")
    func export() throws {
        let directory = Support.temporaryDirectory()
        let tree = KnownTree.tree
        let page = try KnownTree.page(tree, in: directory)
        let run = try B.run(page, steps: [
            B.waitReady(),
            B.eval("flamedViewer.exportJSON()", as: "json"),
            B.eval("flamedViewer.exportFolded()", as: "folded"),
            B.eval("typeof document.getElementById('export-json').click", as: "jsonButton"),
            B.eval("typeof document.getElementById('export-folded').click", as: "foldedButton"),
        ])
        expectClean(run, "exporting")
        let json = try #require(run.string("json"), "exportJSON(): \(run["json"] ?? "nil") \(run.summary)")
        let theirs = try JSONSerialization.jsonObject(with: Data(json.utf8))
        let ours = try JSONSerialization.jsonObject(with: Data(JSONRenderer.render(tree)))
        let same = (KnownTree.canonical(theirs) as? NSDictionary)?.isEqual(to: KnownTree.canonical(ours) as? [String: Any] ?? [:]) ?? false
        #expect(same, "exportJSON differs from JSONRenderer:\n\(json.prefix(3000))\nvs\n\(String(decoding: JSONRenderer.render(tree), as: UTF8.self).prefix(3000))")
        let folded = try #require(run.string("folded"), "exportFolded(): \(run["folded"] ?? "nil")")
        let expectedLines = Set(String(decoding: FoldedRenderer.render(tree), as: UTF8.self).split(separator: "\n").map(String.init))
        let lines = Set(folded.split(separator: "\n").map(String.init))
        #expect(lines == expectedLines, "exportFolded: extra \(lines.subtracting(expectedLines)), missing \(expectedLines.subtracting(lines))")
        #expect(run.string("jsonButton") == "function" && run.string("foldedButton") == "function")
    }

    /// Names that would run script if any part of the page treated them as markup.
    static let evilNames = [
        "<img src=x onerror=window.__pwned=1>",
        "</script><script>window.__pwned=2</script>",
        "<svg/onload=window.__pwned=3>",
        "\"><iframe src=javascript:window.__pwned=4>",
        "</style><style>*{display:none}</style>{{JS}}",
        "<!--<script>window.__pwned=5</script>-->",
        "a\u{2028}b\u{2029}c\\\"'`${window.__pwned=6}",
    ]

    /// Loads `page`, checks that nothing in it ran or became markup, and returns the run.
    func probeSafety(_ page: URL, extraSteps: [[String: Any]]) throws -> ViewerBrowser.Run {
        var steps: [[String: Any]] = [B.waitReady(), B.eval(safetyProbe, as: "atLoad"), B.stats(as: "stats")]
        steps += extraSteps
        steps.append(B.eval(safetyProbe, as: "atEnd"))
        let run = try B.run(page, steps: steps)
        expectClean(run, "an evil page")
        for key in ["atLoad", "atEnd"] {
            let probe = try #require(run.object(key), "\(key): \(run.summary)")
            #expect(probe["pwned"] == nil || probe["pwned"] is NSNull, "\(key): window.__pwned is \(probe["pwned"] ?? "")")
            #expect((probe["dangerous"] as? Int) == 0, "\(key): svg/img/iframe/object/embed… elements: \(probe["dangerous"] ?? "nil")")
            #expect((probe["scripts"] as? Int) == templateScriptCount, "\(key): \(probe["scripts"] ?? "nil") script elements, the viewer has \(templateScriptCount)")
            #expect((probe["handlers"] as? [String]) == [], "\(key): on* attributes: \(probe["handlers"] ?? "nil")")
            #expect((probe["urls"] as? [String]) == [], "\(key): javascript: URLs: \(probe["urls"] ?? "nil")")
        }
        return run
    }

    @Test("safety: frames named like markup (user, kernel, jit, process) stay text, and are still found")
    func evilTree() throws {
        let directory = Support.temporaryDirectory()
        let names = Self.evilNames
        let tree = KnownTree.make([
            KnownTree.Stack(frames: [names[2] + " (66)", "main", names[0]], value: 50, kinds: [names[0]: .jit]),
            KnownTree.Stack(frames: [names[2] + " (66)", "main", names[1]], value: 30, kinds: [names[1]: .jit]),
            KnownTree.Stack(frames: [names[2] + " (66)", "main", names[3], names[4]], value: 20, kinds: [names[3]: .kernel]),
            KnownTree.Stack(frames: ["ok (7)", names[5], names[6]], value: 25),
        ])
        let page = try KnownTree.page(tree, in: directory, title: "</title><script>window.__pwned=9</script>")
        // Every evil name is a frame; the third is a process frame, "NAME (66)".
        let frameNames = names.enumerated().map { $0.offset == 2 ? $0.element + " (66)" : $0.element }
        var extra: [[String: Any]] = frameNames.map { B.rect($0, as: "rect:" + $0) }
        extra += [["op": "hover", "frame": names[0]], B.text("#status", as: "status")]
        extra += B.search("<img", as: "searchImg")
        extra += B.search("<svg", as: "searchSvg")
        extra += [["op": "click", "selector": "#reset"], ["op": "type", "selector": "#search", "text": "", "clear": true]]
        extra += [["op": "hover", "x": 2, "y": 2], ["op": "click", "frame": names[1]], B.wait("flamedViewer.stats().zoomName === \(B.js(names[1]))"), B.stats(as: "zoomed")]
        extra += [["op": "reload", "waitFor": B.ready], B.eval(safetyProbe, as: "afterReload"), B.stats(as: "reloaded")]
        extra += [B.eval("Array.from(document.querySelectorAll('#process option')).map(o => o.value)", as: "processes")]
        extra += [B.eval("flamedViewer.exportJSON()", as: "json"), B.eval("document.title", as: "title")]
        extra += [["op": "screenshot", "path": artifactPath("viewer-evil-names.png").path, "as": "screenshot"]]
        let run = try probeSafety(page, extraSteps: extra)

        #expect((run.object("stats")?["nodes"] as? Int) == tree.nodeCount)
        for name in frameNames {
            #expect(run["rect:" + name] != nil, "the frame \(name.debugDescription) is drawn under its exact name: \(run.failure("rect:" + name) ?? "null")")
        }
        #expect(run.string("status")?.contains(names[0]) == true, "#status shows the name as text: \(run["status"] ?? "nil")")
        #expect(run.string("searchImg")?.hasPrefix("Matched: ") == true && run.string("searchImg") != "Matched: 0.0%",
                "searching <img finds the frame: \(run["searchImg"] ?? "nil")")
        #expect(run.string("searchSvg") == "Matched: 80.0%", "searching <svg finds the process: \(run["searchSvg"] ?? "nil")")
        #expect(run.object("zoomed")?["zoomName"] as? String == names[1], "zoom to an evil frame: \(run["zoomed"] ?? "nil")")
        #expect(run.object("reloaded")?["zoomName"] as? String == names[1], "its name survives the URL hash: \(run["reloaded"] ?? "nil")")
        if let probe = run.object("afterReload") {
            #expect(probe["pwned"] == nil || probe["pwned"] is NSNull)
            #expect((probe["dangerous"] as? Int) == 0)
            #expect((probe["handlers"] as? [String]) == [])
        }
        #expect((run["processes"] as? [String])?.contains(names[2] + " (66)") == true, "#process lists the evil process: \(run["processes"] ?? "nil")")
        #expect(run.string("title") == "</title><script>window.__pwned=9</script>", "the title is text: \(run["title"] ?? "nil")")
        if let json = run.string("json") {
            let exported = try JSONSerialization.jsonObject(with: Data(json.utf8))
            let ours = try JSONSerialization.jsonObject(with: Data(JSONRenderer.render(tree)))
            #expect((KnownTree.canonical(exported) as? NSDictionary)?.isEqual(to: KnownTree.canonical(ours) as? [String: Any] ?? [:]) == true,
                    "exportJSON keeps the evil names exactly")
        } else {
            Issue.record("exportJSON: \(run["json"] ?? "nil")")
        }
    }

    @Test("safety: a process that renames itself <svg/onload=1>, recorded with flamed record -f html",
          .requires(.perf))
    func evilProcess() throws {
        let directory = Support.temporaryDirectory()
        let workload = try Support.buildWorkload(in: directory, named: "evil_names")
        let record = Support.flamed(["record", "-F", "999", "-f", "html", "-o", "x.html", "--", workload, "1"], cwd: directory)
        try #require(record.status == 0, "flamed record failed: \(record.stderr)")
        let page = directory.appendingPathComponent("x.html")
        var extra: [[String: Any]] = B.search("<svg", as: "searchSvg")
        extra += [B.stats(as: "searched")]
        extra += [B.eval("Array.from(document.querySelectorAll('#process option')).map(o => o.value)", as: "processes")]
        extra += [["op": "screenshot", "path": artifactPath("viewer-evil-process.png").path, "as": "screenshot"]]
        let run = try probeSafety(page, extraSteps: extra)
        let processes = (run["processes"] as? [String]) ?? []
        #expect(processes.contains { $0.hasPrefix("<svg/onload=1> (") }, "#process lists the renamed process: \(processes)")
        let matched = run.string("searchSvg") ?? ""
        let percent = Double(matched.dropFirst("Matched: ".count).dropLast()) ?? 0
        #expect(matched.hasPrefix("Matched: ") && percent > 50, "searching <svg finds the process's samples: \(matched)")
        #expect(((run.object("searched")?["matchedPercent"] as? NSNumber)?.doubleValue ?? 0) > 50)
    }

    /// Not a test in the usual sense: with FLAMED_BENCH=1, renders a synthetic 200k-node tree
    /// and measures the viewer's first paint (`scripts/bench-viewer` runs it). With
    /// FLAMED_BENCH_OUT set, the page and its folded stacks are written there.
    @Test("benchmark: first paint of a synthetic 200k-node tree (FLAMED_BENCH=1)",
          .enabled(if: ProcessInfo.processInfo.environment["FLAMED_BENCH"] == "1", "set FLAMED_BENCH=1 to run the viewer benchmark"))
    func benchmark() throws {
        try ViewerBrowser.requireBrowser()
        let environment = ProcessInfo.processInfo.environment
        let directory = environment["FLAMED_BENCH_OUT"].map { URL(fileURLWithPath: $0) } ?? Support.temporaryDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let nodes = Int(environment["FLAMED_BENCH_NODES"] ?? "") ?? 200_000
        let tree = Self.syntheticTree(nodes: nodes)
        let started = Date()
        let html = HTMLRenderer.render(tree, context: ProfileContext(events: ["cpu-clock"], samples: tree.totals()[0]), title: "synthetic \(nodes) nodes")
        let renderSeconds = Date().timeIntervalSince(started)
        let page = directory.appendingPathComponent("synthetic.html")
        try Data(html).write(to: page)
        try Data(FoldedRenderer.render(tree)).write(to: directory.appendingPathComponent("synthetic.folded"))

        let out = directory.appendingPathComponent("synthetic-bench.json")
        let err = directory.appendingPathComponent("synthetic-bench.err")
        let runs = environment["FLAMED_BENCH_RUNS"] ?? "5"
        let pid = try #require(Support.spawn([ViewerBrowser.python!, ViewerBrowser.driver, "bench", page.path, "--runs", runs],
                                             stdout: out.path, stderr: err.path))
        let status = Support.wait(pid, timeout: 600)
        if status == nil { kill(pid, SIGTERM) }
        let data = try Data(contentsOf: out)
        let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                  "bench: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let median = (result["medianMs"] as? NSNumber)?.doubleValue ?? -1
        print("BENCH synthetic nodes=\(tree.nodeCount) bytes=\(html.count) renderMs=\(Int(renderSeconds * 1000)) firstPaintMedianMs=\(median) runs=\(result["runs"] ?? "") stats=\(result["stats"] ?? "") file=\(page.path)")
        #expect(median > 0, "first paint measured: \(result)")
        #expect((result["errors"] as? [Any])?.isEmpty ?? true, "page errors: \(result["errors"] ?? "")")
    }

    /// A deterministic tree of `nodes` nodes shaped like a real profile: a few dozen processes,
    /// chains of calls (deep stacks) with branching, names from a pool of function names,
    /// self values on every node and a few hot spots.
    static func syntheticTree(nodes: Int) -> FlameTree {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var tree = FlameTree()
        let processNames = (0 ..< 40).map { "proc\($0) (\(1000 + $0 * 37))" }
        let functionCount = max(nodes / 8, 100)
        let prefixes = ["std::vector<int>::push_back", "__memcpy_avx_unaligned", "do_syscall_64", "Swift.Array.append", "parse", "render", "hash_lookup", "json_encode", "tcp_sendmsg", "malloc"]
        var created: [Int32] = []
        var depth: [Int32: Int] = [:]
        for name in processNames {
            let node = tree.child(of: FlameTree.root, name: tree.intern(name), kind: .user)
            created.append(node)
            depth[node] = 1
        }
        var last = created[0]
        while tree.nodeCount < nodes {
            // Mostly extend the latest chain (deep stacks), sometimes branch anywhere.
            let roll = next() % 100
            let parent: Int32
            if roll < 55 && (depth[last] ?? 0) < 60 {
                parent = last
            } else if roll < 80 {
                parent = created[Int(next() % UInt64(created.count))]
            } else {
                // Branch near the top of the stacks, as real programs do.
                var node = created[Int(next() % UInt64(created.count))]
                while (depth[node] ?? 0) > 6 { node = tree.nodeParent[Int(node)] }
                parent = node
            }
            let function = Int(next() % UInt64(functionCount))
            let name = "\(prefixes[function % prefixes.count])_\(function)"
            let kind: FrameKind = function % 17 == 0 ? .kernel : (function % 29 == 0 ? .jit : .user)
            let before = tree.nodeCount
            let node = tree.child(of: parent, name: tree.intern(name), kind: kind)
            if tree.nodeCount > before {
                created.append(node)
                depth[node] = (depth[parent] ?? 0) + 1
                last = node
            }
            // A few hot nodes carry most of the samples, so that their stacks are wide.
            tree.add(next() % 500 == 0 ? 20_000 + next() % 50_000 : 1 + next() % 50, to: node)
        }
        return tree
    }
}
