import ArgumentParser
import FlameGraph
import FlamedDaemon
import FlamedSystem

/// `flamed snapshot`: asks the running daemon for a flame graph of its window.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Ask the running daemon for a flame graph of the last minutes.",
        discussion: """
            Examples:
              flamed snapshot -o now.html
              flamed snapshot --window 30s -f folded -o - | flamegraph.pl > last30s.svg
              flamed snapshot --pid 1234 -o app.json
              flamed snapshot --container 1a2b3c4d5e6f -o web.html
            """
    )

    @OptionGroup var outputOptions: OutputOptions

    @Option(help: ArgumentHelp("Only the last part of the window, e.g. 30s, 2m.", valueName: "duration"))
    var window: String?

    @OptionGroup var processFilter: ProcessFilterOptions

    @Option(help: ArgumentHelp("Keep only processes in this container (short or full id); their nodes are `comm (pid) [container ID]`.", valueName: "id"))
    var container: String?

    @OptionGroup var socketOption: SocketOption

    func validate() throws {
        if let container, !RecordCommand.isContainerID(container) {
            throw ValidationError("--container: '\(container)' is not a container id (hex digits, as docker ps shows)")
        }
        if let window, parseDuration(window) == nil { throw ValidationError("--window: '\(window)' is not a duration such as 30s, 5m or 1h") }
    }

    func run() throws {
        let outputPath = outputOptions.resolvedPath
        if case .failure(let error) = OutputFile.checkWritable(outputPath) { fail(error.description) }
        let processes = ProcessFilter(pids: processFilter.pids, comm: processFilter.comm, container: container)
        let request = SnapshotRequest(format: outputOptions.resolvedFormat, window: window.flatMap(parseDuration), processes: processes)
        switch ControlClient.send(.snapshot(request), socket: socketOption.socket) {
        case .failure(let error): fail(error.description)
        case .success(let body):
            if case .failure(let error) = OutputFile.write(body, to: outputPath) { fail(error.description) }
            if outputPath != "-" { Terminal.writeError("flamed: wrote \(outputPath)\n") }
        }
    }
}

/// `flamed status`: what the running daemon is doing.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's uptime, event, rate, samples, lost, tree size, memory and last snapshot."
    )

    @OptionGroup var socketOption: SocketOption

    func run() throws {
        switch ControlClient.send(.status, socket: socketOption.socket) {
        case .failure(let error): fail(error.description)
        case .success(let body): print(String(decoding: body, as: UTF8.self), terminator: "")
        }
    }
}

/// The control socket option shared by the client commands.
struct SocketOption: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's control socket.", valueName: "path"))
    var socket: String = "/run/flamed/flamed.sock"
}
