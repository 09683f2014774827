import ArgumentParser

/// `--pid` and `--comm`: the process filters of the commands that read a whole profile.
struct ProcessFilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Keep only these process ids (comma-separated).", valueName: "pid[,pid...]"))
    var pid: String?

    @Option(help: ArgumentHelp("Keep only processes with this name (comm).", valueName: "name"))
    var comm: String?

    /// The process ids `--pid` names.
    var pids: [Int32]? { pid.map { $0.split(separator: ",").compactMap { Int32($0) } } }

    func validate() throws {
        if let pid {
            for part in pid.split(separator: ",", omittingEmptySubsequences: false) where Int32(part) == nil {
                throw ValidationError("--pid: '\(part)' is not a process id")
            }
        }
    }
}
