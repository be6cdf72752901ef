import Foundation
import Testing
import TestSupport

/// Runs `script` with sh in a private mount namespace (so a tmpfs it mounts vanishes with it and needs no
/// clean-up): as root where the process may unshare, else as the root of a new user namespace.
func inPrivateMountNamespace(_ script: String, env: [String: String] = [:]) throws -> CLIResult {
    for flags in [["--mount"], ["--mount", "--map-root-user"]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = flags + ["sh", "-c", script]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile(), o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: e, as: UTF8.self)
        // unshare itself refused (no privilege for this kind of namespace): try the next kind.
        if p.terminationStatus != 0 && stderr.hasPrefix("unshare:") { continue }
        return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: stderr)
    }
    return CLIResult(status: -1, stdout: "", stderr: "unshare: no mount namespace can be made here")
}

/// Whether this machine lets a test mount a small tmpfs of its own (root, or unprivileged user namespaces).
let canMountTmpfs: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    let dir = temporaryDirectory("lmtrain-mount-probe")
    defer { try? FileManager.default.removeItem(at: dir) }
    return (try? inPrivateMountNamespace("mount -t tmpfs -o size=1m tmpfs '\(dir.path)'"))?.status == 0
}()

@Suite(.enabled(if: canMountTmpfs, "this machine lets no test mount a tmpfs (needs root or user namespaces)"))
struct DiskFullTests {
    /// `fit` on a 7 MB file system: the first checkpoint (5.4 MB) fits, the second does not. The run stops with
    /// one line saying how much the file needed and how much is free, exits non-zero, and the checkpoint it
    /// leaves, copied to a disk with room, resumes and trains to the end.
    @Test func aFullDiskStopsTheRunCleanlyAndTheLastCheckpointLoads() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small"), kept = dir.appendingPathComponent("kept")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path
        let fit = [lmtrainBinary().path, "fit", tiny, "--output", small.path + "/run", "--preset", "tiny", "--context", "16",
                   "--steps", "60", "--vocab-size", "400", "--batch-size", "4", "--checkpoint-every", "20", "--threads", "1"]
            .map { "'\($0)'" }.joined(separator: " ")
        let r = try inPrivateMountNamespace("""
            mount -t tmpfs -o size=7m tmpfs '\(small.path)' || exit 97
            \(fit)
            echo "fit exit status $?" >&2
            cp -a '\(small.path)/run' '\(kept.path)'
            """)
        try #require(r.status == 0, "the script itself failed: \(r.stderr)")
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        #expect(r.stderr.contains("fit exit status 1"), "\(r.stderr)")
        #expect(errors.count == 1 && errors[0].contains("the disk is full") && errors[0].contains("MB are free there"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"), "\(r.stderr)")
        // The checkpoint of step 20 is whole and resumes on a disk with room, to the end of the budget.
        let resumed = try lmtrainRun(["fit", "--resume", kept.path, "--threads", "1"])
        #expect(resumed.status == 0 && resumed.stderr.contains("done at step 60"), "\(resumed.stderr)")
    }
}
