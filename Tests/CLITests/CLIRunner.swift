import Foundation
import TestSupport

/// Runs the built `lmtrain` binary, which SwiftPM puts beside the test bundle.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

let repoRoot = repositoryRoot

func lmtrainBinary() -> URL {
    let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    var dir = exe.deletingLastPathComponent()
    // The test runner may sit inside an .xctest bundle directory.
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("lmtrain")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    fatalError("lmtrain binary not found next to the tests: build it first (scripts/test does)")
}

func lmtrainRun(_ args: [String], stdin: Data? = nil) throws -> CLIResult {
    let p = Process()
    p.executableURL = lmtrainBinary()
    p.arguments = args
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    // Read both pipes while the process runs so a large output cannot block it.
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box(), errBox = Box()
    let group = DispatchGroup()
    group.enter(); DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter(); DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if let stdin { inp.fileHandleForWriting.write(stdin) }
    try inp.fileHandleForWriting.close()
    p.waitUntilExit()
    group.wait()
    return CLIResult(status: p.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                     stderr: String(decoding: errBox.data, as: UTF8.self))
}

func tempDir() -> URL { temporaryDirectory("lmtrain-cli") }

/// The first `lines` real verse pairs of the bible training split, as DIR/pairs.tsv.
func biblePairs(_ dir: URL, lines: Int = 300) throws -> String {
    let all = try String(contentsOf: repoRoot.appendingPathComponent("corpora/bible/bible.en-es.train.tsv"), encoding: .utf8)
    let path = dir.appendingPathComponent("pairs.tsv").path
    try (all.split(separator: "\n").prefix(lines).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A user-facing failure: non-zero exit (not a signal), exactly one "Error: …" line (progress lines may come
/// before it; no usage text after it), no crash or stack trace.
func isCleanFailure(_ r: CLIResult) -> Bool {
    let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    return r.status != 0 && r.status < 128 && errors.count == 1 && !r.stderr.contains("Usage:")
        && !r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump") && !r.stderr.contains("Backtrac")
}
