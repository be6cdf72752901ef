import Foundation
import Model
import Runs
import Tokenizer
import Training

extension FuzzTarget {
    /// Valid inputs made by lmtrain's own writers, where fuzzing starts (scripts/fuzz writes them into the
    /// target's corpus) and which the regression tests require to be accepted.
    public var seeds: [Data] {
        switch self {
        case .safetensors:
            let run = Scratch.run()
            try! Checkpoint.save(run: run, model: Fixtures.model, optimizer: Fixtures.optimizer, state: TrainState(batcherState: 3))
            return [Fixtures.weights, try! Data(contentsOf: URL(fileURLWithPath: RunPaths(run).optimizer))]
        case .tokenizerFile:
            return [Data(TokenizerFile.serialize(Fixtures.tokenizer).utf8)]
        case .runConfig:
            var lm = Run(model: .gpt(GPTConfig(vocabSize: 400, context: 32, dModel: 16, layers: 1, heads: 2)),
                         train: TrainOptions(task: .lm), data: DataOptions())
            lm.data.corpus = "/data/corpus.txt"
            var mt = Run(model: .seq2seq(Seq2SeqConfig(vocabSize: 400, maxLength: 64, dModel: 16, encoderLayers: 1,
                                                      decoderLayers: 1, heads: 2)),
                         train: TrainOptions(task: .translate), data: DataOptions())
            mt.data.corpus = "/data/pairs.tsv"
            mt.data.columns = [2, 3]
            return [lm, mt].map { r in
                let dir = Scratch.run()
                try! r.save(directory: dir)
                return try! Data(contentsOf: URL(fileURLWithPath: RunPaths(dir).config))
            }
        case .parallelData:
            let tsv = "Gen.1.1\tIn the beginning.\tEn el principio.\nGen.1.2\tThe earth was formless.\tLa tierra estaba desordenada.\n"
            let two = "In the beginning.\nThe earth.\n\u{0}En el principio.\nLa tierra.\n"
            return [Data([0]) + Data(tsv.utf8), Data([1]) + Data(two.utf8)]
        case .encode:
            return [Data("In the beginning, God créa 天地 — 42 ¡sí!\n  two  spaces\tand\u{1F600}e\u{301}".utf8)]
        }
    }
}
