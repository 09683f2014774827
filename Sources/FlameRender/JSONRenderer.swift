import FlameGraph

/// Writes a flame tree as the nested JSON of Linux perf's flame graph script.
///
/// Each node is `{"n": name, "l": kind, "v": self value, "c": [children]}`, formatted
/// byte for byte as Python's `json.dumps` formats it by default.
public enum JSONRenderer {
    private static let open: [UInt8] = Array(#"{"n": "#.utf8)
    private static let close: [UInt8] = Array("]}".utf8)
    private static let separator: [UInt8] = Array(", ".utf8)
    /// The bytes between the name and the value, one per `FrameKind` raw value.
    private static let labelParts: [[UInt8]] = [FrameKind.root, .user, .kernel, .jit].map {
        Array(#", "l": "\#($0.label)", "v": "#.utf8)
    }
    private static let childrenStart: [UInt8] = Array(#", "c": ["#.utf8)

    /// Renders `tree` as JSON.
    ///
    /// - Parameters:
    ///   - tree: The tree to render; children appear in the tree's order.
    ///   - escapeHTML: Also escape `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026`,
    ///     for embedding the JSON in an HTML page.
    /// - Returns: The UTF-8 (in fact ASCII) bytes of the JSON document.
    public static func render(_ tree: FlameTree, escapeHTML: Bool = false) -> [UInt8] {
        let names = NameTable(tree.names) { name, out in
            JSONEscape.appendQuoted(name, escapeHTML: escapeHTML, to: &out)
        }
        var out: [UInt8] = []
        var estimate = 0
        for name in tree.nodeName {
            estimate &+= names.count(name)
        }
        out.reserveCapacity(estimate &+ tree.nodeCount &* 48)

        let nodeName = tree.nodeName
        let nodeKind = tree.nodeKind
        let nodeValue = tree.nodeValue
        let nodeParent = tree.nodeParent
        let firstChild = tree.firstChild
        let nextSibling = tree.nextSibling

        // Walk the tree depth first with the parent links instead of recursion, so that
        // the depth of the tree does not matter.
        var node = FlameTree.root
        outer: while true {
            let index = Int(node)
            out.append(contentsOf: open)
            out.append(contentsOf: names[nodeName[index]])
            out.append(contentsOf: labelParts[Int(nodeKind[index].rawValue)])
            JSONEscape.appendDecimal(nodeValue[index], to: &out)
            out.append(contentsOf: childrenStart)
            let child = firstChild[index]
            if child != FlameTree.none {
                node = child
                continue
            }
            out.append(contentsOf: close)
            while node != FlameTree.root {
                let sibling = nextSibling[Int(node)]
                if sibling != FlameTree.none {
                    out.append(contentsOf: separator)
                    node = sibling
                    continue outer
                }
                node = nodeParent[Int(node)]
                out.append(contentsOf: close)
            }
            break
        }
        return out
    }
}
