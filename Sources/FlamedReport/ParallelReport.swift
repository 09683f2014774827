import Dispatch
import FlameGraph
import FlamedPipeline
import FlamedSystem
import PerfData

/// Records for a `ReportWorker`, in the order the reader delivered them: the samples of the
/// processes assigned to the worker (their callchains copied out of the input) and every
/// process record.
struct ReportBatch: @unchecked Sendable {
    enum Item {
        /// A sample without its callchain, which is `entries[start..<start+count]` (none when
        /// count < 0), and its number among the samples the report keeps.
        case sample(Sample, start: Int, count: Int, sequence: UInt64)
        case process(ProcessRecord)
    }

    /// Most items and callchain entries in a batch: both arrays stay under glibc's mmap
    /// threshold, so their memory is reused from batch to batch instead of being mapped
    /// and faulted in afresh.
    static let itemCapacity = 512, entryCapacity = 4096

    /// The items; their samples hold no callchain (so no pointer crosses threads).
    var items: [Item] = []
    var entries: [UInt64] = []
    /// The reader's symbolizer's `recordedOnRunningKernel` when the batch was sent.
    var recordedOnRunningKernel = false

    init() {
        items.reserveCapacity(Self.itemCapacity)
        entries.reserveCapacity(Self.entryCapacity)
    }

    /// Whether the batch is large enough to send.
    var isFull: Bool { items.count >= Self.itemCapacity || entries.count >= Self.entryCapacity - 128 }

    mutating func append(_ sample: Sample, sequence: UInt64) {
        let start = entries.count
        var count = -1
        var kept = sample
        if let chain = sample.callchain {
            count = chain.count
            chain.append(to: &entries)
            kept.callchain = nil
        }
        items.append(.sample(kept, start: start, count: count, sequence: sequence))
    }

    /// Hands each item to `body`, samples with their callchains lent from `entries`.
    func forEach(_ body: (Item) -> Void) {
        entries.withUnsafeBytes { words in
            for item in items {
                guard case .sample(var sample, let start, let count, let sequence) = item, count >= 0 else {
                    body(item)
                    continue
                }
                let bytes = UnsafeRawBufferPointer(rebasing: words[(start * 8)..<((start + count) * 8)])
                sample.callchain = Callchain(words: BorrowedBytes(bytes), count: count)
                body(.sample(sample, start: start, count: count, sequence: sequence))
            }
        }
    }
}

/// One of the two symbolizing threads of a large report (the reading thread only reads and
/// hands out samples). It builds the tree of the processes assigned to it with a pipeline
/// of its own (symbol tables are shared through the report's `SymbolCache`). Its state is
/// touched only on its queue, and by the caller after `finish`.
final class ReportWorker: @unchecked Sendable {
    private var pipeline: Pipeline
    private let queue = DispatchQueue(label: "flamed.report.worker")
    /// Batches sent and not yet applied, at most: the reader waits rather than queueing
    /// more when the worker falls behind, so memory stays bounded.
    private let inFlight = DispatchSemaphore(value: 3)
    private var samples = 0

    init(pipeline: Pipeline) {
        self.pipeline = pipeline
    }

    /// Queues `batch`; waits while the worker has several batches still to apply.
    func submit(_ batch: ReportBatch) {
        inFlight.wait()
        queue.async {
            self.apply(batch)
            self.inFlight.signal()
        }
    }

    /// Waits for every batch sent and returns the tree the worker built.
    func finish() -> TreePart {
        queue.sync { pipeline.aggregator.part() }
    }

    private func apply(_ batch: ReportBatch) {
        pipeline.processes.symbolizer.recordedOnRunningKernel = batch.recordedOnRunningKernel
        batch.forEach { item in
            switch item {
            case .sample(let sample, _, _, let sequence):
                samples += 1
                ReportBuilder.boundFilePages(pipeline.processes.symbolizer, samples: samples)
                pipeline.aggregator.sampleSequence = sequence
                pipeline.add(sample)
            case .process(let record):
                pipeline.apply(record)
            }
        }
    }
}
