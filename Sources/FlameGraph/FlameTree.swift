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

/// Who a process node (a child of the root) stands for, as fields: filters, labels and the
/// control protocol use these, never the node's display text.
public struct ProcessIdentity: Sendable, Hashable {
    public var pid: Int32
    /// The thread's name when the node was made (its last COMM, or perf's `:tid`).
    public var comm: String
    /// The full id of the container the process runs in, if any.
    public var container: String?

    public init(pid: Int32, comm: String, container: String? = nil) {
        self.pid = pid
        self.comm = comm
        self.container = container
    }

    /// The node's name, as perf's flame graph script shows it: `comm (pid)`, plain `swapper`
    /// for pid 0, and ` [container 1a2b3c4d5e6f]` (the short id) after a containerized one.
    public var displayName: String {
        if pid == 0 { return comm }
        guard let container else { return "\(comm) (\(pid))" }
        return "\(comm) (\(pid)) [container \(container.prefix(12))]"
    }

    /// Whether `wanted` (a short or full container id, any case) names this process's container.
    public func isInContainer(_ wanted: String) -> Bool {
        guard let container else { return false }
        let text = wanted.lowercased()
        return !text.isEmpty && container.lowercased().hasPrefix(text)
    }
}

/// Which processes to keep (`--pid`, `--comm`, `--container`): each given field must match.
public struct ProcessFilter: Sendable, Hashable, Codable {
    public var pids: [Int32]?
    public var comm: String?
    /// A short or full container id, any case.
    public var container: String?

    public init(pids: [Int32]? = nil, comm: String? = nil, container: String? = nil) {
        self.pids = pids
        self.comm = comm
        self.container = container
    }

    /// Whether the filter keeps everything.
    public var keepsAll: Bool { pids == nil && comm == nil && container == nil }

    /// Whether the process `identity` stands for (nil: a node that is no process) is kept.
    public func keeps(_ identity: ProcessIdentity?) -> Bool {
        guard !keepsAll else { return true }
        guard let identity else { return false }
        if let pids, !pids.contains(identity.pid) { return false }
        if let comm, identity.comm != comm { return false }
        if let container, !identity.isInContainer(container) { return false }
        return true
    }

    /// The filter as a line of the context header, e.g. `pid 1,2, comm nginx`.
    public var summary: String {
        [pids.map { "pid " + $0.map(String.init).joined(separator: ",") }, comm.map { "comm " + $0 }, container.map { "container " + $0 }]
            .compactMap { $0 }.joined(separator: ", ")
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
    /// What each process node stands for, by node.
    public private(set) var processIdentities: [Int32: ProcessIdentity] = [:]

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
    /// placeholder for a name worked out later, see `FrameNaming.deferred`.
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

    /// The node of process `identity` under the root, named by its `displayName`; a kernel
    /// node for pid 0 (`swapper`).
    public mutating func processNode(_ identity: ProcessIdentity) -> Int32 {
        let node = child(of: Self.root, name: intern(identity.displayName), kind: identity.pid == 0 ? .kernel : .user)
        if processIdentities[node] == nil { processIdentities[node] = identity }
        return node
    }

    /// Copies process node `node` of `other` (a child of its root) under this tree's root,
    /// with its identity; `name` is its name in this tree.
    public mutating func copyProcessNode(_ node: Int32, of other: FlameTree, name: Int32) -> Int32 {
        let copy = child(of: Self.root, name: name, kind: other.nodeKind[Int(node)])
        if processIdentities[copy] == nil, let identity = other.processIdentities[node] { processIdentities[copy] = identity }
        return copy
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
