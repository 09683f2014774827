import ArgumentParser
import FlameRender

/// `-f FORMAT`: any name in the format registry.
extension OutputFormat: ExpressibleByArgument {}

/// Options shared by every command that writes a flame graph.
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Output file, or - for standard output.",
        discussion: "Default: \(OutputFormat.listed(\.defaultFileName)), by format.",
        valueName: "file"))
    var output: String?

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp(
        "Output format: \(OutputFormat.listed(\.name)).",
        discussion: "Without -f the format comes from the -o extension (\(OutputFormat.allCases.map { "." + $0.fileExtension }.joined(separator: ", "))), else html.",
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
