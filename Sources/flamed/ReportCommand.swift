import ArgumentParser
import Demangling
import FlameRender
import FlamedReport
import FlamedSystem
import Logging
import PerfData
import Symbolizer

/// `flamed report`: a perf.data file to a flame graph.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Turn a perf.data file into a flame graph.",
        discussion: """
            A drop-in for `perf script report flamegraph`: the same tree (all -> comm (pid) -> \
            frames), written as one self-contained HTML file, perf's JSON, or folded stacks. \
            Reads perf's file and pipe formats, zstd-compressed recordings (perf record -z) included.

            Examples:
              perf record -g -- ./app && flamed report
              perf record -a -g -o - sleep 5 | flamed report -i - -o now.html
              flamed report -i perf.data -f folded -o - | flamegraph.pl > out.svg
            """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("Input perf.data file, or - for perf's pipe format on standard input.", valueName: "file"))
    var input: String = "perf.data"

    @OptionGroup var outputOptions: OutputOptions

    @Option(name: [.customShort("e"), .long], help: ArgumentHelp("Keep only this event (by the name perf shows, e.g. cpu-clock) when the file has several.", valueName: "event"))
    var event: String?

    @OptionGroup var processFilter: ProcessFilterOptions

    @Option(help: ArgumentHelp("Kernel symbols from this kallsyms file instead of the build-id cache or /proc/kallsyms.", valueName: "file"))
    var kallsyms: String?

    @Option(help: ArgumentHelp("What node values count: samples (one per sample, as perf) or period.", valueName: "samples|period"))
    var weight: String = "samples"

    @Option(name: .customLong("max-stack"), help: ArgumentHelp("Most frames used from each callchain, as perf's --max-stack.", valueName: "n"))
    var maxStack: Int = 127

    @Option(help: DemangleStyle.help)
    var demangle: DemangleStyle = .perf

    @Flag(name: .shortAndLong, help: "Log more detail to standard error.")
    var verbose = false

    func validate() throws {
        if input.isEmpty { throw ValidationError("-i needs a file name or -") }
        guard ["samples", "period"].contains(weight) else { throw ValidationError("--weight must be samples or period") }
        guard maxStack > 0 else { throw ValidationError("--max-stack must be positive") }
    }

    func run() throws {
        HeapTuning.fixMmapThreshold(128 << 10)
        var logger = Logger(label: "flamed.report") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        let inputName = input == "-" ? "<stdin>" : input
        let outputPath = outputOptions.resolvedPath
        let format = outputOptions.resolvedFormat

        if case .failure(let error) = OutputFile.checkWritable(outputPath) { fail(error.description) }
        let reader: PerfDataReader
        do {
            reader = try PerfDataReader.open(path: input)
        } catch let error as FileError {
            if error.errno == .noSuchFileOrDirectory && input == "perf.data" {
                fail("\(error.path): no such file (try 'perf record' first)")
            }
            fail(error.description)
        } catch {
            fail("\(inputName): \(error)")
        }

        var options = ReportOptions(buildIDCache: Self.buildIDCache())
        options.cacheDirectory = PrivateFiles.cacheDirectory()
        options.eventName = event
        options.pids = processFilter.pids.map(Set.init)
        options.comm = processFilter.comm
        options.kallsymsPath = kallsyms
        options.weight = weight == "period" ? .period : .samples
        options.maxStack = maxStack
        options.demangle = demangle

        let progress = ProgressLine(label: "reading \(inputName)")
        let report: Report
        do {
            report = try ReportBuilder(options: options, logger: logger).build(reader) { done, total in
                progress.update(done: done, total: total)
            }
        } catch {
            progress.finish()
            fail("\(inputName): \(error)")
        }
        progress.finish()
        for warning in report.warnings { Terminal.writeError("flamed: warning: \(inputName): \(warning)\n") }

        let bytes = format.render(report.tree, context: report.context, title: "flamed: \(inputName)",
                                  colorScheme: outputOptions.colorscheme)
        if case .failure(let error) = OutputFile.write(bytes, to: outputPath) { fail(error.description) }
        if outputPath != "-" {
            Terminal.writeError("flamed: wrote \(outputPath) (\(report.context.samples) samples, \(report.tree.nodeCount) nodes)\n")
        }
    }

    /// perf's build-id cache: $PERF_BUILDID_DIR, else ~/.debug.
    static func buildIDCache() -> String {
        if let value = CurrentProcess.environment("PERF_BUILDID_DIR") { return value }
        if let home = CurrentProcess.environment("HOME") { return home + "/.debug" }
        return "/root/.debug"
    }
}

/// `--demangle perf|full|none`, shared by report, record and run.
extension DemangleStyle: ExpressibleByArgument {
    static let help = ArgumentHelp(
        "How symbol names are demangled: perf, full or none.",
        discussion: "perf: C++ without parameter lists, Rust without hashes, Swift simplified (Hotspot.churnNumbers(_:)). "
            + "full: C++ parameter lists, Rust hashes, Swift's full signatures. none: names as in the symbol table.",
        valueName: "style")
}

/// Prints `flamed: message` on stderr and exits with status 1.
func fail(_ message: String) -> Never {
    Terminal.writeError("flamed: \(message)\n")
    CurrentProcess.exitNow(1)
}
