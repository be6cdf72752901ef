import Foundation
import Kernels
import Model
import Tokenizer
import Training

/// Parses a duration such as "90s", "10m", "1h30m" or "45" (seconds).
func parseDuration(_ s: String) -> Double? {
    if let v = Double(s) { return v > 0 ? v : nil }
    var total = 0.0, number = ""
    for ch in s {
        if ch.isNumber || ch == "." { number.append(ch); continue }
        guard let v = Double(number) else { return nil }
        switch ch {
        case "h": total += v * 3600
        case "m": total += v * 60
        case "s": total += v
        default: return nil
        }
        number = ""
    }
    if !number.isEmpty { return nil }
    return total > 0 ? total : nil
}

/// Makes `dir` (and parents) and checks a file can be written in it.
func prepareDirectory(_ dir: String) throws {
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw TrainingError.unwritable(dir)
    }
    let probe = dir + "/.write-test-\(getpid())"
    guard FileManager.default.createFile(atPath: probe, contents: Data()) else { throw TrainingError.unwritable(dir) }
    try? FileManager.default.removeItem(atPath: probe)
}

/// A stable key of a tokenizer file's content (FNV-1a), for the token-id cache.
func contentKey(_ path: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in FileManager.default.contents(atPath: path) ?? Data() { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return String(h, radix: 16)
}

/// A trained run loaded for inference: config, tokenizer (checked against the model) and weights.
struct LoadedRun {
    let config: RunConfig
    let tokenizer: BPETokenizer
    let model: GPT

    /// `checkpoint`: a weights file to use instead of RUN/model.safetensors (a kept snapshot, or an average).
    init(_ run: String, threads: Int, checkpoint: String? = nil) throws {
        config = try RunConfig.load(run: run)
        tokenizer = try TokenizerFile.load(run + "/" + config.tokenizer)
        guard tokenizer.vocabularySize == config.model.vocabSize else {
            throw TrainingError.vocabularyMismatch(tokenizer: tokenizer.vocabularySize, model: config.model.vocabSize)
        }
        model = GPT(config: config.model, pool: ThreadPool(threads: threads))
        _ = try Checkpoint.loadWeights(path: checkpoint ?? run + "/model.safetensors", into: model)
    }
}

/// Appends one line to stdout now (progress bars go to stderr).
func say(_ s: String) { print(s); fflush(stdout) }

/// The validation tokens a language-model run was trained with: its --valid file, or the last lines of its
/// corpus that `fit` held out.
func validationStream(config: RunConfig, tokenizer: BPETokenizer, threads: Int) throws -> [Int32] {
    if let v = config.valid { return try EvalCommand.stream(v, tokenizer: tokenizer, threads: threads).ids }
    let all = try TextFile.lines(config.corpus)
    let tsv = TextFile.isTSV(config.corpus)
    let lines = all.map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
    let held = max(1, Int(Double(lines.count) * config.train.validFraction))
    return try TokenStream.encode(lines: Array(lines.suffix(held)), tokenizer: tokenizer, threads: threads).ids
}
