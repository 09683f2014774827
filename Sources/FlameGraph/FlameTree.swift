import FlamedCollections

/// What kind of code a frame is, shown as the JSON `l` field.
public enum FrameKind: UInt8, Sendable {
    /// The tree's root, `all` (l = "root").
    case root = 0
    /// User-space code (l = "").
    case user = 1
    /// Kernel code (l = "kernel").
    case kernel = 2
    /// JIT-compiled code named by a perf map (l = "jit").
    case jit = 3

    /// The value of the JSON `l` field.
    public var label: String {
        switch self {
        case .root: return "root"
        case .user: return ""
        case .kernel: return "kernel"
        case .jit: return "jit"
        }
    }
}

/// A flame tree with interned names, stored as parallel arrays.
///
/// Children keep the order in which they were first seen, as perf's flame graph script
/// does; a child is found by name alone, so its kind is the kind it was created with.
/// Node values count the samples (or period) that end at that node.
public struct FlameTree: Sendable {
    /// The index of the root node, `all`.
    public static let root: Int32 = 0
    /// No node (used for missing children and siblings).
    public static let none: Int32 = -1

    /// The interned name table. Node names are indexes into it.
    public private(set) var names: [String] = []
    private var nameIndex: [String: Int32] = [:]

    public private(set) var nodeName: [Int32] = []
    public private(set) var nodeKind: [FrameKind] = []
    /// Self value of each node: the samples that end there.
    public private(set) var nodeValue: [UInt64] = []
    public private(set) var nodeParent: [Int32] = []
    public private(set) var firstChild: [Int32] = []
    public private(set) var nextSibling: [Int32] = []
    private var lastChild: [Int32] = []
    private var childIndex = IntMap(capacity: 1024)

    /// Creates a tree holding only the root node.
    public init(rootName: String = "all") {
        let name = intern(rootName)
        appendNode(name: name, kind: .root, parent: Self.none)
    }

    /// Number of nodes, the root included.
    public var nodeCount: Int { nodeName.count }

    /// Interns `name` and returns its index in `names`.
    public mutating func intern(_ name: String) -> Int32 {
        if let existing = nameIndex[name] { return existing }
        let index = Int32(names.count)
        names.append(name)
        nameIndex[name] = index
        return index
    }

    /// Adds a name that is not interned (no other name equals it, whatever its text): a
    /// placeholder for a name worked out later, see `TreeBuilder.defersNaming`.
    public mutating func addUninternedName(_ name: String) -> Int32 {
        names.append(name)
        return Int32(names.count - 1)
    }

    /// The child of `parent` called `name`, created with `kind` if it does not exist.
    @inlinable
    public mutating func child(of parent: Int32, name: Int32, kind: FrameKind) -> Int32 {
        let key = UInt64(UInt32(bitPattern: parent)) << 32 | UInt64(UInt32(bitPattern: name))
        if let existing = lookupChild(key) { return existing }
        return insertChild(key: key, parent: parent, name: name, kind: kind)
    }

    @usableFromInline
    func lookupChild(_ key: UInt64) -> Int32? { childIndex[key] }

    @usableFromInline
    mutating func insertChild(key: UInt64, parent: Int32, name: Int32, kind: FrameKind) -> Int32 {
        let node = appendNode(name: name, kind: kind, parent: parent)
        childIndex.set(key, node)
        let p = Int(parent)
        if firstChild[p] == Self.none {
            firstChild[p] = node
        } else {
            nextSibling[Int(lastChild[p])] = node
        }
        lastChild[p] = node
        return node
    }

    @discardableResult
    private mutating func appendNode(name: Int32, kind: FrameKind, parent: Int32) -> Int32 {
        let node = Int32(nodeName.count)
        nodeName.append(name)
        nodeKind.append(kind)
        nodeValue.append(0)
        nodeParent.append(parent)
        firstChild.append(Self.none)
        nextSibling.append(Self.none)
        lastChild.append(Self.none)
        return node
    }

    /// Adds `value` to the self value of `node`.
    @inlinable
    public mutating func add(_ value: UInt64, to node: Int32) {
        addValue(value, Int(node))
    }

    @usableFromInline
    mutating func addValue(_ value: UInt64, _ node: Int) {
        nodeValue[node] &+= value
    }

    /// The name of `node`.
    public func name(of node: Int32) -> String { names[Int(nodeName[Int(node)])] }

    /// The children of `node`, in first-seen order.
    public func children(of node: Int32) -> [Int32] {
        var result: [Int32] = []
        var child = firstChild[Int(node)]
        while child != Self.none {
            result.append(child)
            child = nextSibling[Int(child)]
        }
        return result
    }

    /// Inclusive totals: each node's self value plus its descendants'.
    public func totals() -> [UInt64] {
        var totals = nodeValue
        // Children always have larger indexes than their parents.
        for node in stride(from: nodeCount - 1, to: 0, by: -1) {
            let parent = Int(nodeParent[node])
            totals[parent] &+= totals[node]
        }
        return totals
    }

}
