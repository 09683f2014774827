import PerfData

/// One sample's frames, leaf first, as a stack source gives them: each frame's address and
/// how to look it up. Buffers are reused from sample to sample.
public struct Stack {
    /// Frame addresses, leaf first (context markers removed).
    public var addresses: [UInt64] = []
    /// Each frame's `Stack.Mode` bits.
    public var modes: [UInt8] = []
    /// Frames nearer the root were left out (`--max-stack`).
    public var isTruncated = false

    /// How a frame is looked up.
    public enum Mode {
        /// A kernel address (else a user-space one).
        public static let kernel: UInt8 = 1
        /// A return address, looked up at `address - 1` (else an exact IP).
        public static let isReturn: UInt8 = 2
    }

    public init() {}

    mutating func removeAll() {
        addresses.removeAll(keepingCapacity: true)
        modes.removeAll(keepingCapacity: true)
        isTruncated = false
    }

    mutating func append(_ address: UInt64, mode: UInt8) {
        addresses.append(address)
        modes.append(mode)
    }
}

/// The stage that turns a sample into its frames. Today the kernel's callchain
/// (`CallchainStackSource`); next, an unwinder of the user stack copied with each sample.
public protocol StackSource {
    /// Fills `stack` with the frames of `sample`; false when the sample's stack is corrupt
    /// and must be dropped whole (the sample then stays on its process, as perf keeps it).
    mutating func frames(of sample: Sample, into stack: inout Stack) -> Bool
}

/// Frames from `PERF_SAMPLE_CALLCHAIN`, as perf reads them: context markers switch between
/// kernel and user frames, the first frame after each marker is an exact IP and the rest
/// return addresses, and any marker perf does not know means a corrupt chain. At most
/// `maxStack` frames nearest the leaf are kept. A sample without a callchain is its IP alone.
public struct CallchainStackSource: StackSource {
    public let maxStack: Int

    public init(maxStack: Int) {
        self.maxStack = max(maxStack, 1)
    }

    public func frames(of sample: Sample, into stack: inout Stack) -> Bool {
        stack.removeAll()
        guard let chain = sample.callchain else {
            let inKernel = sample.cpumode == RecordMisc.kernel || sample.cpumode == RecordMisc.guestKernel
            stack.append(sample.ip, mode: inKernel ? Stack.Mode.kernel : 0)
            return true
        }
        var kernel: UInt8 = 0, exact = true
        for index in 0..<chain.count {
            if stack.addresses.count >= maxStack {
                stack.isTruncated = true
                break
            }
            let entry = chain[index]
            if entry >= CallchainContext.max {
                guard entry == CallchainContext.kernel || entry == CallchainContext.user || entry == CallchainContext.hypervisor else {
                    return false
                }
                kernel = entry == CallchainContext.kernel ? Stack.Mode.kernel : 0
                exact = true
                continue
            }
            stack.append(entry, mode: kernel | (exact ? 0 : Stack.Mode.isReturn))
            exact = false
        }
        return true
    }
}
