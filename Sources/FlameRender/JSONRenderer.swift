import FlameGraph

/// Writes a flame tree as the nested JSON of Linux perf's flame graph script.
///
/// Each node is `{"n": name, "l": kind, "v": self value, "c": [children]}`, formatted
/// byte for byte as Python's `json.dumps` formats it by default.
public enum JSONRenderer {
    /// Renders `tree` as JSON.
    ///
    /// - Parameters:
    ///   - tree: The tree to render; children appear in the tree's order.
    ///   - escapeHTML: Also escape `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026`,
    ///     for embedding the JSON in an HTML page.
    /// - Returns: The UTF-8 (in fact ASCII) bytes of the JSON document.
    public static func render(_ tree: FlameTree, escapeHTML: Bool = false) -> [UInt8] {
        let nodeName = tree.nodeName
        let nodeKind = tree.nodeKind
        let nodeValue = tree.nodeValue
        let nodeParent = tree.nodeParent
        let firstChild = tree.firstChild
        let nextSibling = tree.nextSibling

        // Each name is escaped once. Everything before a node's value,
        // `{"n": "name", "l": "kind", "v": `, depends only on its name and kind, so it is
        // assembled once per name and kind that occur, into `heads`.
        let names = NameTable(tree.names) { name, out in
            JSONEscape.appendQuoted(name, escapeHTML: escapeHTML, to: &out)
        }
        let labels: [[UInt8]] = [FrameKind.root, .user, .kernel, .jit].map {
            Array(#", "l": "\#($0.label)", "v": "#.utf8)
        }
        let kinds = labels.count
        // `slotHead[name * kinds + kind]` is 1 + the index of that head, or 0 before it is made;
        // `nodeHead[node]` is the index of the node's head in `headBounds`.
        var slotHead = [Int32](repeating: 0, count: tree.names.count * kinds)
        var nodeHead = [Int32](repeating: 0, count: tree.nodeCount)
        var headBounds: [Int] = [0]
        var heads: [UInt8] = []
        var size = 0
        for node in 0 ..< tree.nodeCount {
            let name = nodeName[node]
            let kind = Int(nodeKind[node].rawValue)
            let slot = Int(name) * kinds + kind
            if slotHead[slot] == 0 {
                heads.append(contentsOf: #"{"n": "#.utf8)
                heads.append(contentsOf: names[name])
                heads.append(contentsOf: labels[kind])
                headBounds.append(heads.count)
                slotHead[slot] = Int32(headBounds.count - 1)
            }
            let head = Int(slotHead[slot]) - 1
            nodeHead[node] = Int32(head)
            size &+= headBounds[head + 1] &- headBounds[head]
        }
        var out: [UInt8] = []
        // Heads, up to 20 digits, `, "c": [`, `]}` and `, ` per node.
        out.reserveCapacity(size &+ tree.nodeCount &* 32)

        // Walk the tree depth first with the parent links instead of recursion, so that
        // the depth of the tree does not matter.
        var node = FlameTree.root
        outer: while true {
            let index = Int(node)
            let head = Int(nodeHead[index])
            out.append(contentsOf: heads[headBounds[head] ..< headBounds[head + 1]])
            JSONEscape.appendDecimal(nodeValue[index], to: &out)
            for byte in #", "c": ["#.utf8 {
                out.append(byte)
            }
            let child = firstChild[index]
            if child != FlameTree.none {
                node = child
                continue
            }
            out.append(UInt8(ascii: "]"))
            out.append(UInt8(ascii: "}"))
            while node != FlameTree.root {
                let sibling = nextSibling[Int(node)]
                if sibling != FlameTree.none {
                    out.append(UInt8(ascii: ","))
                    out.append(UInt8(ascii: " "))
                    node = sibling
                    continue outer
                }
                node = nodeParent[Int(node)]
                out.append(UInt8(ascii: "]"))
                out.append(UInt8(ascii: "}"))
            }
            break
        }
        return out
    }
}
