import FlameGraph

/// The formats flamed writes: the one registry that report, record, the daemon's snapshots,
/// its configuration and its control protocol all take names, file names and renderers from.
///
/// Adding a format is one more case and its entry in `entry`.
public enum OutputFormat: String, CaseIterable, Sendable {
    /// One self-contained interactive page (`HTMLRenderer`).
    case html
    /// The nested JSON of perf's flame graph script (`JSONRenderer`).
    case json
    /// Collapsed stacks, one line per stack (`FoldedRenderer`).
    case folded

    /// What the registry knows about one format.
    public struct Entry: Sendable {
        /// File name extensions (without the dot) that imply the format; the first is the one
        /// flamed gives files it names itself.
        public let fileExtensions: [String]
        /// The file written when no name is given (perf's names where perf has one).
        public let defaultFileName: String
        /// Turns a tree into the format's bytes; formats without a page ignore the context,
        /// title and colour scheme.
        let render: @Sendable (_ tree: FlameTree, _ context: ProfileContext, _ title: String, _ colorScheme: String) -> [UInt8]
    }

    /// This format's entry in the registry.
    public var entry: Entry {
        switch self {
        case .html:
            Entry(fileExtensions: ["html", "htm"], defaultFileName: "flamegraph.html") { tree, context, title, colorScheme in
                HTMLRenderer.render(tree, context: context, title: title, colorScheme: colorScheme)
            }
        case .json:
            Entry(fileExtensions: ["json"], defaultFileName: "stacks.json") { tree, _, _, _ in JSONRenderer.render(tree) }
        case .folded:
            Entry(fileExtensions: ["folded"], defaultFileName: "stacks.folded") { tree, _, _, _ in FoldedRenderer.render(tree) }
        }
    }

    /// The name users write (`-f`, `formats = [...]`, the control protocol).
    public var name: String { rawValue }

    /// The extension (without the dot) of files flamed names itself, such as snapshots.
    public var fileExtension: String { entry.fileExtensions[0] }

    /// The file written when no name is given.
    public var defaultFileName: String { entry.defaultFileName }

    /// The format called `name`, if there is one.
    public init?(name: String) { self.init(rawValue: name) }

    /// The names of all formats, in registry order.
    public static var names: [String] { allCases.map(\.name) }

    /// A property of every format, in registry order, as prose: "a, b or c".
    public static func listed(_ property: (OutputFormat) -> String) -> String {
        let items = allCases.map(property)
        return items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " or " + items[items.count - 1]
    }

    /// The format a file name's extension implies (`.htm` too for html), if any.
    public static func inferred(from path: String) -> OutputFormat? {
        allCases.first { format in format.entry.fileExtensions.contains { path.hasSuffix("." + $0) } }
    }

    /// Renders `tree` in this format.
    ///
    /// - Parameters:
    ///   - tree: The flame tree to write.
    ///   - context: What the profile is about (shown by formats with a page).
    ///   - title: The page title, for formats with a page.
    ///   - colorScheme: The palette for user frames, `"blue-green"` or `"orange"`, for
    ///     formats with a page.
    /// - Returns: The bytes of the output file.
    public func render(_ tree: FlameTree, context: ProfileContext, title: String, colorScheme: String = "blue-green") -> [UInt8] {
        entry.render(tree, context, title, colorScheme)
    }
}
