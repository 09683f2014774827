/// What a profile is about, shown in the HTML context panel (as perf's header is).
public struct ProfileContext: Sendable, Equatable {
    public var hostname: String?
    public var osRelease: String?
    public var arch: String?
    public var perfVersion: String?
    public var cpuDescription: String?
    public var cpusOnline: Int?
    public var cpusAvailable: Int?
    public var commandLine: String?
    /// Event names, as perf shows them (for example `cpu-clock:ppp`).
    public var events: [String]
    /// The event the graph is focused on with `-e`, if any.
    public var focusedEvent: String?
    /// Sampling frequency (Hz) or period, as configured.
    public var frequency: UInt64?
    public var period: UInt64?
    /// Time of the first and last sample, in nanoseconds of the recording clock.
    public var firstSampleTime: UInt64?
    public var lastSampleTime: UInt64?
    /// When the recording was captured, as text (for example from the file's mtime).
    public var capturedAt: String?
    /// Wall-clock start and end of a rolling window (the daemon's snapshots), UTC.
    public var windowStart: String?
    public var windowEnd: String?
    public var samples: UInt64
    public var lost: UInt64
    public var throttled: UInt64
    /// What the node values count: "samples" or "period".
    public var weight: String

    public init(events: [String] = [], samples: UInt64 = 0, lost: UInt64 = 0, throttled: UInt64 = 0, weight: String = "samples") {
        self.events = events
        self.samples = samples
        self.lost = lost
        self.throttled = throttled
        self.weight = weight
    }

    /// Label and value pairs in display order; absent values are left out.
    public var fields: [(String, String)] {
        var result: [(String, String)] = []
        if let hostname { result.append(("host", hostname)) }
        if let osRelease { result.append(("kernel", osRelease)) }
        if let arch { result.append(("arch", arch)) }
        if let cpuDescription { result.append(("cpu", cpuDescription)) }
        if let cpusOnline { result.append(("cpus online", String(cpusOnline))) }
        if let perfVersion { result.append(("perf version", perfVersion)) }
        if let commandLine { result.append(("command", commandLine)) }
        if !events.isEmpty { result.append(("events", events.joined(separator: ", "))) }
        if let focusedEvent { result.append(("focused event", focusedEvent)) }
        if let frequency { result.append(("frequency", "\(frequency) Hz")) }
        if let period { result.append(("period", String(period))) }
        if let capturedAt { result.append(("captured", capturedAt)) }
        if let windowStart, let windowEnd { result.append(("window", "\(windowStart) – \(windowEnd)")) }
        if let first = firstSampleTime, let last = lastSampleTime, last >= first {
            result.append(("window", "\(Self.seconds(first)) – \(Self.seconds(last)) (\(Self.seconds(last - first)) s)"))
        }
        result.append(("samples", String(samples)))
        result.append(("lost", String(lost)))
        result.append(("throttled", String(throttled)))
        result.append(("weight", weight))
        return result
    }

    static func seconds(_ nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        let micros = (nanoseconds % 1_000_000_000) / 1000
        let fraction = String(micros)
        return "\(whole).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}
