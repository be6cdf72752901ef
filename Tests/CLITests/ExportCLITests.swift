import Foundation
import Testing
import TestSupport

/// `lmtrain export` and `lmtrain logits` as a user runs them: a trained run exports to both formats, a second
/// export to the same place is refused in one line (and `--force` replaces it), a directory that is not a run is
/// refused, and `logits` writes the tensors its help names. (The exports' contents are checked by ExportTests
/// and, with transformers and CTranslate2 themselves, by scripts/interop-check.)
@Suite struct ExportCLITests {
    @Test func exportAndLogitsFromTheCommandLine() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try biblePairs(dir, lines: 200)
        let run = dir.appendingPathComponent("run").path
        let fit = try lmtrainRun(["fit", corpus, "--output", run, "--preset", "tiny", "--steps", "2", "--vocab-size", "400",
                                  "--bleu-sentences", "0", "--batch-tokens", "256"])
        #expect(fit.status == 0, "\(fit.stderr)")

        for format in ["hf", "ctranslate2"] {
            let out = dir.appendingPathComponent(format).path
            let r = try lmtrainRun(["export", run, "--format", format, "--output", out])
            #expect(r.status == 0 && r.stdout.contains("wrote \(out)"), "\(r.stderr)")
            #expect(FileManager.default.fileExists(atPath: out + (format == "hf" ? "/model.safetensors" : "/model.bin")))
            let again = try lmtrainRun(["export", run, "--format", format, "--output", out])
            #expect(isCleanFailure(again) && again.stderr.contains("already exists") && again.stderr.contains("--force"), "\(again.stderr)")
            let forced = try lmtrainRun(["export", run, "--format", format, "--output", out, "--force"])
            #expect(forced.status == 0, "\(forced.stderr)")
        }
        let notARun = try lmtrainRun(["export", dir.path, "--format", "hf", "--output", dir.appendingPathComponent("x").path])
        #expect(isCleanFailure(notARun), "\(notARun.stderr)")
        let badFormat = try lmtrainRun(["export", run, "--format", "onnx", "--output", dir.appendingPathComponent("y").path])
        #expect(badFormat.status != 0 && badFormat.stderr.contains("onnx"), "\(badFormat.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x").path)
                && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("y").path))

        let logitsPath = dir.appendingPathComponent("logits.safetensors").path
        let logits = try lmtrainRun(["logits", run, corpus, "--count", "3", "--output", logitsPath])
        #expect(logits.status == 0, "\(logits.stderr)")
        // The safetensors header: 8-byte length, then JSON naming each tensor's shape.
        let data = try Data(contentsOf: URL(fileURLWithPath: logitsPath))
        let n = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + n)) as! [String: Any]
        let shape = { (name: String) in (header[name] as? [String: Any])?["shape"] as? [Int] }
        #expect(shape("src")?.first == 3 && shape("tgt_lengths") == [3], "\(header.keys.sorted())")
        #expect(shape("logits")?.count == 3 && (shape("logits")?.last ?? 0) > 260 && shape("logits")?[1] == shape("tgt_in")?[1])
    }
}
