import ArgumentParser

/// The `flamed` command: a Linux profiler that writes flame graphs.
@main
struct Flamed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flamed",
        abstract: "A Linux profiler that turns samples into flame graphs (HTML, JSON, folded).",
        discussion: """
            record samples live; report reads perf.data; run is the always-on daemon, asked with snapshot and status.
            Shell completions: flamed --generate-completion-script bash|zsh|fish
            """,
        version: "0.1.0",
        subcommands: [RecordCommand.self, ReportCommand.self, RunCommand.self, SnapshotCommand.self, StatusCommand.self]
    )
}
