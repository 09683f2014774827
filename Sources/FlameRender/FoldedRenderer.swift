import FlameGraph

/// Writes a flame tree in Brendan Gregg's collapsed ("folded") stack format.
///
/// Each node with a non-zero self value gives one line: the frames from the process frame
/// (the root's child) down to the node joined by `;`, a space, and the value.
public enum FoldedRenderer {
    /// Renders `tree` as folded stacks, one line per node with samples, in pre-order.
    ///
    /// In names, `;` becomes `:` and line feeds and carriage returns become spaces, so every
    /// stack stays on one line and splits back into the same frames. The root itself is
    /// not a frame and is left out.
    public static func render(_ tree: FlameTree) -> [UInt8] {
        let names = NameTable(tree.names) { name, out in
            for byte in name.utf8 {
                switch byte {
                case UInt8(ascii: ";"): out.append(UInt8(ascii: ":"))
                case UInt8(ascii: "\n"), UInt8(ascii: "\r"): out.append(UInt8(ascii: " "))
                default: out.append(byte)
                }
            }
        }
        let nodeName = tree.nodeName
        let nodeValue = tree.nodeValue
        let nodeParent = tree.nodeParent
        let firstChild = tree.firstChild
        let nextSibling = tree.nextSibling

        var out: [UInt8] = []
        var path: [UInt8] = []
        var node = firstChild[Int(FlameTree.root)]
        guard node != FlameTree.none else { return out }

        // Depth-first walk with parent links; `path` holds the stack of the current node.
        outer: while true {
            let index = Int(node)
            if nodeParent[index] != FlameTree.root {
                path.append(UInt8(ascii: ";"))
            }
            path.append(contentsOf: names[nodeName[index]])
            if nodeValue[index] > 0 {
                out.append(contentsOf: path)
                out.append(UInt8(ascii: " "))
                JSONEscape.appendDecimal(nodeValue[index], to: &out)
                out.append(UInt8(ascii: "\n"))
            }
            let child = firstChild[index]
            if child != FlameTree.none {
                node = child
                continue
            }
            while true {
                let current = Int(node)
                let parent = nodeParent[current]
                path.removeLast(names.count(nodeName[current]) + (parent != FlameTree.root ? 1 : 0))
                let sibling = nextSibling[current]
                if sibling != FlameTree.none {
                    node = sibling
                    continue outer
                }
                node = parent
                if node == FlameTree.root { break outer }
            }
        }
        return out
    }
}
