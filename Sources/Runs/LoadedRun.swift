import Foundation
import Kernels
import Model
import Tokenizer

/// A model type a run can hold: built from the run's shape.
public protocol RunModel: TrainableModel {
    static var task: RunTask { get }
    /// The model of `shape`, or nil when the shape is of the other task.
    static func make(_ shape: ModelShape, pool: ThreadPool) -> Self?
}

extension GPT: RunModel {
    public static var task: RunTask { .lm }
    public static func make(_ shape: ModelShape, pool: ThreadPool) -> GPT? {
        if case .gpt(let c) = shape { return GPT(config: c, pool: pool) }
        return nil
    }
}

extension Seq2Seq: RunModel {
    public static var task: RunTask { .translate }
    public static func make(_ shape: ModelShape, pool: ThreadPool) -> Seq2Seq? {
        if case .seq2seq(let c) = shape { return Seq2Seq(config: c, pool: pool) }
        return nil
    }
}

/// A trained run loaded for inference: its configuration, its tokenizer (checked against the model) and the
/// model with its weights. `LoadedRun<GPT>` for a language model, `LoadedRun<Seq2Seq>` for a translation model;
/// a run of the other task is refused with one line naming the command that fits it.
public struct LoadedRun<M: RunModel> {
    public let directory: String
    public let run: Run
    public let tokenizer: BPETokenizer
    public let model: M

    /// `checkpoint`: the weights to use instead of RUN/model.safetensors: "best" (RUN/model.best.safetensors, the
    /// best validation), "averaged" (`lmtrain average`'s), or a file (a kept snapshot, say).
    public init(directory: String, threads: Int, checkpoint: String? = nil) throws {
        self.directory = directory
        run = try Run.load(directory: directory, expecting: M.task)
        tokenizer = try run.loadTokenizer(directory: directory)
        model = M.make(run.model, pool: ThreadPool(threads: threads))!
        let path = RunPaths(directory).weights(named: checkpoint)
        if checkpoint == "best" || checkpoint == "averaged", !FileManager.default.fileExists(atPath: path) {
            throw RunError.invalidOption(checkpoint == "best"
                ? "\(directory) has no model.best.safetensors yet: fit writes it at each validation that beats the earlier ones"
                : "\(directory) has no model.averaged.safetensors: make it with `lmtrain average \(directory) --last N`")
        }
        _ = try WeightsFile.load(path: path, into: model)
    }

}

extension Run {
    /// The run's tokenizer (in its directory), refused if its vocabulary is not the model's.
    public func loadTokenizer(directory: String) throws -> BPETokenizer {
        let tok = try TokenizerFile.load(RunPaths(directory).tokenizer(self))
        guard tok.vocabularySize == model.vocabSize else {
            throw RunError.vocabularyMismatch(tokenizer: tok.vocabularySize, model: model.vocabSize)
        }
        return tok
    }
}
