import ArgumentParser
import FlameRender

/// The output formats flamed writes.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case html, json, folded

    /// The file name used when `-o` is not given (perf's names for html and json).
    var defaultFileName: String {
        switch self {
        case .html: return "flamegraph.html"
        case .json: return "stacks.json"
        case .folded: return "stacks.folded"
        }
    }

    /// The format a file name's extension implies, if any.
    static func inferred(from path: String) -> OutputFormat? {
        if path.hasSuffix(".html") || path.hasSuffix(".htm") { return .html }
        if path.hasSuffix(".json") { return .json }
        if path.hasSuffix(".folded") { return .folded }
        return nil
    }
}

/// Options shared by every command that writes a flame graph.
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Output file, or - for standard output.",
        discussion: "Default: flamegraph.html, stacks.json or stacks.folded, by format.",
        valueName: "file"))
    var output: String?

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp(
        "Output format: html, json or folded.",
        discussion: "Without -f the format comes from the -o extension (.html, .json, .folded), else html.",
        valueName: "format"))
    var format: OutputFormat?

    @Option(help: ArgumentHelp("HTML colour scheme for user frames: blue-green or orange.", valueName: "scheme"))
    var colorscheme: String = "blue-green"

    /// The format to write.
    var resolvedFormat: OutputFormat {
        if let format { return format }
        if let output, let inferred = OutputFormat.inferred(from: output) { return inferred }
        return .html
    }

    /// The path to write.
    var resolvedPath: String { output ?? resolvedFormat.defaultFileName }

    func validate() throws {
        if let output, output.isEmpty { throw ValidationError("-o needs a file name or -") }
        guard ["blue-green", "orange"].contains(colorscheme) else {
            throw ValidationError("--colorscheme must be blue-green or orange, not '\(colorscheme)'")
        }
    }
}
