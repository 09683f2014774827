import FlameGraph

/// Writes a flame tree in the compact form the HTML viewer embeds.
///
/// The document is one JSON object:
///
///     {"format": "flamed-compact-1", "names": [name, ...], "nodes": [n, k, v, c, ...]}
///
/// `names` is a string table holding each name used by a node once, in the order the names
/// are first met in pre-order (so the root's name is `names[0]`). `nodes` is a flat array
/// with four numbers per node, the nodes in pre-order (depth first, children in the tree's
/// order): the index of the node's name in `names`, its kind (`FrameKind.rawValue`: root 0,
/// user 1, kernel 2, jit 3), its self value, and its number of children. A node's children
/// follow it directly, each with its whole subtree, so parents can be rebuilt with a stack.
///
/// Strings are escaped as `JSONEscape` escapes them (ASCII only); with `escapeHTML`, `<`,
/// `>` and `&` too, so the document can sit inside an HTML `<script>` element.
public enum CompactTreeEncoder {
    /// The value of the document's `format` field.
    public static let format = "flamed-compact-1"

    /// Encodes `tree` as a compact JSON document.
    public static func encode(_ tree: FlameTree, escapeHTML: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        append(tree, escapeHTML: escapeHTML, to: &out)
        return out
    }

    /// Appends the compact JSON document for `tree` to `out`.
    public static func append(_ tree: FlameTree, escapeHTML: Bool = true, to out: inout [UInt8]) {
        let count = tree.nodeCount
        let nodeName = tree.nodeName
        let nodeKind = tree.nodeKind
        let nodeValue = tree.nodeValue
        let nodeParent = tree.nodeParent
        let firstChild = tree.firstChild
        let nextSibling = tree.nextSibling

        // Pre-order, names renumbered by first use, and child counts.
        var order = [Int32]()
        order.reserveCapacity(count)
        var childCount = [Int32](repeating: 0, count: count)
        var newName = [Int32](repeating: -1, count: tree.names.count)
        var usedNames: [Int32] = []
        var node = FlameTree.root
        outer: while true {
            let index = Int(node)
            order.append(node)
            let name = Int(nodeName[index])
            if newName[name] < 0 {
                newName[name] = Int32(usedNames.count)
                usedNames.append(Int32(name))
            }
            let parent = nodeParent[index]
            if parent != FlameTree.none { childCount[Int(parent)] &+= 1 }
            let child = firstChild[index]
            if child != FlameTree.none {
                node = child
                continue
            }
            while node != FlameTree.root {
                let sibling = nextSibling[Int(node)]
                if sibling != FlameTree.none {
                    node = sibling
                    continue outer
                }
                node = nodeParent[Int(node)]
            }
            break
        }

        var nameBytes: [UInt8] = []
        for (offset, name) in usedNames.enumerated() {
            if offset > 0 { nameBytes.append(UInt8(ascii: ",")) }
            JSONEscape.appendQuoted(tree.names[Int(name)], escapeHTML: escapeHTML, to: &nameBytes)
        }
        out.reserveCapacity(out.count + nameBytes.count + order.count * 14 + 64)
        out.append(contentsOf: #"{"format":""#.utf8)
        out.append(contentsOf: format.utf8)
        out.append(contentsOf: #"","names":["#.utf8)
        out.append(contentsOf: nameBytes)
        out.append(contentsOf: #"],"nodes":["#.utf8)
        let comma = UInt8(ascii: ",")
        let zero = UInt8(ascii: "0")
        for (position, node) in order.enumerated() {
            let index = Int(node)
            if position > 0 { out.append(comma) }
            JSONEscape.appendDecimal(UInt64(newName[Int(nodeName[index])]), to: &out)
            out.append(comma)
            out.append(zero &+ nodeKind[index].rawValue)
            out.append(comma)
            JSONEscape.appendDecimal(nodeValue[index], to: &out)
            out.append(comma)
            JSONEscape.appendDecimal(UInt64(childCount[index]), to: &out)
        }
        out.append(contentsOf: "]}".utf8)
    }
}
