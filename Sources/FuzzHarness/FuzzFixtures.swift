import Foundation
import Model
import Runs
import Tokenizer
import Training

/// What the targets load fuzzed bytes beside or into, made once per process: a tokenizer trained on a few
/// lines of mixed scripts, a tiny GPT and its optimizer, and that model's weights file. The harness runs on one
/// thread (libFuzzer's, or a serialized test suite's), which is what makes the unchecked statics safe.
enum Fixtures {
    nonisolated(unsafe) static let tokenizer: BPETokenizer = {
        let lines = [
            "In the beginning God created the heavens and the earth.",
            "En el principio creó Dios los cielos y la tierra.",
            "Au commencement, Dieu créa les cieux et la terre — «\u{00A0}lumière\u{00A0}».",
            "Im Anfang schuf Gott Himmel und Erde; ß, ä, ö, ü.",
            "太初有道，道与神同在。 Ἐν ἀρχῇ ἦν ὁ λόγος. В начале было Слово.",
            "numbers 1, 22, 333 and tabs\there; emoji \u{1F600}\u{1F44D}\u{1F3FD}; combining e\u{0301}.",
        ]
        var options = BPETrainingOptions(vocabularySize: 400)
        options.threads = 1
        options.minPairFrequency = 1
        options.minCharacterCount = 1
        return try! BPETrainer.train(lines: Array(repeating: lines, count: 4).flatMap { $0 }, options: options)
    }()

    nonisolated(unsafe) static let model = GPT(config: GPTConfig(vocabSize: 40, context: 8, dModel: 8, layers: 1, heads: 2))
    nonisolated(unsafe) static let optimizer = AdamW(layout: model.layout)
    static let weights: Data = try! WeightsFile.serialize(model, step: 0)
}

/// One scratch directory per process (in /dev/shm where it exists: fuzzing writes a file per input) that
/// the targets write their inputs into, so the loaders run on real paths as they do for users.
enum Scratch {
    static let root: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = base + "/lmtrain-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
        return dir
    }()
    nonisolated(unsafe) static var runs = 0

    /// Writes `data` to a scratch file named `name` and returns its path.
    static func write(_ data: Data, as name: String) -> String {
        let path = root + "/" + name
        put(data, at: path)
        return path
    }

    static func put(_ data: Data, at path: String) {
        precondition(FileManager.default.createFile(atPath: path, contents: data), "cannot write the scratch file \(path)")
    }

    /// An empty run directory (two alternate between calls, cleared each time).
    static func run() -> String {
        runs += 1
        let dir = root + "/run\(runs % 2)"
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
