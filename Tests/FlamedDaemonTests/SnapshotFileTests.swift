import FlameRender
@testable import FlamedDaemon
import FlamedSystem
import Foundation
import Logging
import Testing

// Snapshot files on a real file system: their names come from the format registry, the
// directory is made with its mode, and pruning keeps the newest snapshots of this host only.

@Suite struct SnapshotFileTests {
    /// A fresh directory path under the temporary directory (not created).
    static func scratchPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("flamed-snapshots-\(UUID().uuidString)").path
    }

    @Test func fileNamesUseEachFormatsExtension() {
        for format in OutputFormat.allCases {
            let name = SnapshotWriter.fileName(host: "web-1", stamp: "20261125T143001.123Z", format: format)
            #expect(name == "flamed-web-1-20261125T143001.123Z.\(format.fileExtension)")
            #expect(OutputFormat.inferred(from: name) == format)
        }
    }

    @Test func directoryIsMadeWithParentsAndMode() throws {
        let root = Self.scratchPath()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let nested = root + "/a/b"
        #expect(throws: Never.self) { try Directories.make(nested, mode: 0o750).get() }
        let mode = try FileManager.default.attributesOfItem(atPath: nested)[.posixPermissions] as? Int
        #expect(mode == 0o750)
        #expect(throws: Never.self) { try Directories.make(nested, mode: 0o700).get() }
        #expect(try Directories.entries(of: root).get() == ["a"])

        let file = nested + "/file"
        try OutputFile.write(Array("x".utf8), to: file).get()
        let error = try #require(Directories.make(file, mode: 0o750).failure)
        #expect(error.path == file && error.errno == .notDirectory)
        #expect(Directories.entries(of: file).failure?.errno == .notDirectory)
        #expect(Directories.entries(of: root + "/missing").failure?.errno == .noSuchFileOrDirectory)
        #expect(throws: Never.self) { try Directories.removeFile(file).get() }
        #expect(Directories.removeFile(file).failure?.description.hasPrefix(file + ": cannot remove: ") == true)
        #expect(try Directories.entries(of: nested).get() == [])
    }

    @Test func pruneKeepsTheNewestSnapshotsOfThisHost() throws {
        let directory = Self.scratchPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Directories.make(directory, mode: 0o750).get()
        let stamps = ["20260101T000000.000Z", "20260101T000001.000Z", "20260101T000002.000Z"]
        var names: [String] = []
        for stamp in stamps {
            for format in OutputFormat.allCases {
                names.append(SnapshotWriter.fileName(host: "web", stamp: stamp, format: format))
            }
        }
        let others = ["flamed-db-20250101T000000.000Z.html", "flamed-web-20250101T000000.000Z.htm",
                      "flamed-web-20250101T000000.000Z.txt", "notes.html", ".flamed-web-x.html.tmp-abc123"]
        for name in names + others {
            try OutputFile.write(Array(name.utf8), to: "\(directory)/\(name)").get()
        }
        SnapshotWriter.prune(directory: directory, host: "web", keep: 2, logger: Logger(label: "test"))
        let left = Set(try Directories.entries(of: directory).get())
        let kept = names.filter { !$0.contains(stamps[0]) }
        #expect(left == Set(kept + others))
    }
}

extension Result {
    /// The error, if this is a failure.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
