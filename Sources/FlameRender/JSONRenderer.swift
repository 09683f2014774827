import FlameGraph
import Glibc
func nowX() -> Double { var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 }

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

        // Everything before a node's value, `{"n": "name", "l": "kind", "v": `, depends only
        // on its name and kind, so it is encoded once per name and kind that occur, into one
        // buffer: `heads[headStart[slot] ..< headEnd[slot]]`.
        let t0 = nowX()
        let kinds = 4
        var headStart = [Int](repeating: 0, count: tree.names.count * kinds)
        var headEnd = [Int](repeating: 0, count: tree.names.count * kinds)
        var heads: [UInt8] = []
        var size = 0
        for node in 0..<tree.nodeCount {
            let slot = Int(nodeName[node]) * kinds + Int(nodeKind[node].rawValue)
            if headEnd[slot] == 0 {
                headStart[slot] = heads.count
                heads.append(contentsOf: #"{"n": "#.utf8)
                JSONEscape.appendQuoted(tree.names[Int(nodeName[node])], escapeHTML: escapeHTML, to: &heads)
                heads.append(contentsOf: #", "l": "\#(nodeKind[node].label)", "v": "#.utf8)
                headEnd[slot] = heads.count
            }
            size &+= headEnd[slot] &- headStart[slot]
        }
        let childrenStart: [UInt8] = Array(#", "c": ["#.utf8)
        let t1 = nowX()
        var out: [UInt8] = []
        out.reserveCapacity(size &+ tree.nodeCount &* 32)

        // Walk the tree depth first with the parent links instead of recursion, so that
        // the depth of the tree does not matter.
        var node = FlameTree.root
        outer: while true {
            let index = Int(node)
            let slot = Int(nodeName[index]) * kinds + Int(nodeKind[index].rawValue)
            out.append(contentsOf: heads[headStart[slot] ..< headEnd[slot]])
            JSONEscape.appendDecimal(nodeValue[index], to: &out)
            out.append(contentsOf: childrenStart)
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
        let t2 = nowX()
        print("prep", (t1-t0)*1000, "loop", (t2-t1)*1000)
        return out
    }
}
