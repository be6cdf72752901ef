import Foundation
import Model
import Runs
import Testing
import TestSupport

/// RUN/config.json: the files lmtrain wrote before the `Run` type (version 1, one layout per task) still load,
/// a saved run loads back equal, and a file from a newer lmtrain is refused with one line naming its version.
@Suite struct RunFileTests {
    let train = """
    "train" : { "batchSize" : BATCH, "beta2" : BETA2, "checkpointEvery" : 400, "clip" : 1, "evalEvery" : 400, "evalTokens" : 65536,
      "gradAccum" : 1, "logEvery" : 10, "lr" : 0.001, "seed" : 1337, "smoothing" : 0.1, "smoothingStyle" : "STYLE", "steps" : 400,
      "threads" : 2, "validFraction" : 0.02, "warmup" : 100, "weightDecay" : 0.1 }
    """

    func write(_ json: String) throws -> String {
        let dir = temporaryDirectory("lmtrain-runfile")
        try json.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return dir.path
    }

    @Test func versionOneRunsOfBothTasksLoad() throws {
        // As written by lmtrain 0.1 (keys and values of real files).
        let lm = try write("""
        { "corpus" : "/data/web.en.train.txt", "format" : "lmtrain-run", "valid" : "/data/web.en.valid.txt",
          "model" : { "context" : 128, "dModel" : 256, "dropout" : 0.1, "heads" : 4, "layers" : 4, "vocabSize" : 8000 },
          "task" : "lm", "tokenizer" : "tokenizer.json", \(train.replacingOccurrences(of: "BATCH", with: "16").replacingOccurrences(of: "BETA2", with: "0.95").replacingOccurrences(of: "STYLE", with: "unigram")),
          "version" : 1 }
        """)
        let tr = try write("""
        { "data" : { "batchTokens" : 4096, "bleuSentences" : 200, "corpus" : "/data/pairs.tsv", "valid" : "/data/valid.tsv" },
          "format" : "lmtrain-run",
          "model" : { "dModel" : 256, "decoderLayers" : 3, "dropout" : 0.1, "encoderLayers" : 3, "heads" : 4, "maxLength" : 256, "vocabSize" : 8000 },
          "task" : "translate", "tokenizer" : "tokenizer.json", \(train.replacingOccurrences(of: "BATCH", with: "0").replacingOccurrences(of: "BETA2", with: "0.98").replacingOccurrences(of: "STYLE", with: "uniform")),
          "version" : 1 }
        """)
        defer { try? FileManager.default.removeItem(atPath: lm); try? FileManager.default.removeItem(atPath: tr) }
        let a = try Run.load(directory: lm)
        #expect(a.model == .gpt(GPTConfig(vocabSize: 8000, context: 128, dModel: 256, layers: 4, heads: 4, dropout: 0.1)))
        #expect(a.data.corpus == "/data/web.en.train.txt" && a.data.valid == "/data/web.en.valid.txt")
        #expect(a.train.smoothingStyle == .unigram && a.train.batchSize == 16 && a.train.matmulPrecision == nil)
        let b = try Run.load(directory: tr)
        #expect(b.model == .seq2seq(Seq2SeqConfig(vocabSize: 8000, maxLength: 256, dModel: 256, encoderLayers: 3, decoderLayers: 3, heads: 4, dropout: 0.1, positions: .interleaved)))
        #expect(b.data.corpus == "/data/pairs.tsv" && b.data.batchTokens == 4096 && b.train.beta2 == 0.98)
        // A translation run is not a language model, and says which command fits it.
        #expect(throws: RunError.self) { _ = try Run.load(directory: tr, expecting: .lm) }
        do { _ = try Run.load(directory: tr, expecting: .lm) } catch {
            #expect("\(error)".contains("lmtrain translate"), "\(error)")
        }

        // Saved as version 3 and loaded back: equal, the old run's position table kept.
        for (dir, run) in [(lm, a), (tr, b)] {
            try run.save(directory: dir)
            let text = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
            #expect(text.contains("\"version\" : 3"))
            #expect(try Run.load(directory: dir) == run)
        }
    }

    @Test func aNewerVersionIsRefusedInOneLine() throws {
        let dir = try write(#"{ "format" : "lmtrain-run", "version" : 4, "task" : "lm" }"#)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try Run.load(directory: dir)
            Issue.record("a version-4 run loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("version 4") && !message.contains("\n"), "\(message)")
        }
    }
}
