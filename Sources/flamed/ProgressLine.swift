import FlamedSystem

/// A progress line on stderr for long reports. It appears only when stderr is a terminal
/// and the work has taken more than a second.
final class ProgressLine {
    private let label: String
    private let enabled: Bool
    private let started = ContinuousClock.now
    private var shown = false
    private var lastPercent = -1

    init(label: String) {
        self.label = label
        self.enabled = Terminal.standardErrorIsTTY
    }

    func update(done: Int, total: Int) {
        guard enabled, total > 0, ContinuousClock.now - started > .seconds(1) else { return }
        let percent = min(100, done * 100 / total)
        guard percent != lastPercent else { return }
        lastPercent = percent
        shown = true
        Terminal.writeError("\rflamed: \(label): \(percent)%\u{1b}[K")
    }

    func finish() {
        if shown { Terminal.writeError("\r\u{1b}[K") }
    }
}
