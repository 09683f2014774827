import ArgumentParser

/// The `flamed` command: a Linux profiler that writes flame graphs.
@main
struct Flamed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flamed",
        abstract: "A Linux profiler that turns samples into flame graphs (HTML, JSON, folded).",
        discussion: """
            flamed reads perf.data files today; live sampling and the always-on daemon build on it.
            Shell completions: flamed --generate-completion-script bash|zsh|fish
            """,
        version: "0.1.0",
        subcommands: [RecordCommand.self, ReportCommand.self]
    )
}
