import Foundation
import Kernels
import Model

/// What the training loop, the optimizer and checkpoints need from a model: its parameter layout and the
/// parameter and gradient arenas, its initialisation, and how its checkpoint names itself.
public protocol TrainableModel: AnyObject {
    var layout: ParameterLayout { get }
    var params: FloatArena { get }
    var grads: FloatArena { get }
    var pool: ThreadPool { get }
    func initialize(seed: UInt64)
    /// `format` in the weights file's metadata ("lmtrain-gpt", "lmtrain-seq2seq").
    var checkpointFormat: String { get }
    /// The model's configuration as JSON, stored in the weights file's metadata.
    func configJSON() throws -> String
}

/// JSON with its keys sorted, so the same config always gives the same text (Swift's encoder otherwise follows
/// dictionary order, which varies from one encoding to the next).
func sortedJSON<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    return String(decoding: try enc.encode(value), as: UTF8.self)
}

extension GPT: TrainableModel {
    public var checkpointFormat: String { "lmtrain-gpt" }
    public func configJSON() throws -> String { try sortedJSON(config) }
}

extension Seq2Seq: TrainableModel {
    public var checkpointFormat: String { "lmtrain-seq2seq" }
    public func configJSON() throws -> String { try sortedJSON(config) }
}

/// What one kind of training (language modelling, translation) supplies to the shared loop: batches from a
/// resumable cursor, the forward/backward of a batch, and validation.
public protocol TrainingTask: AnyObject {
    var trainable: TrainableModel { get }
    /// Draws micro-batch `slot` of the coming step (0 ..< gradAccum) from the data, advancing `cursor` (saved
    /// in checkpoints); returns the targets it counts for the loss and the tokens it processes.
    func prepare(slot: Int, cursor: inout UInt64) -> (targets: Int, tokens: Int)
    /// Forward, loss and backward of a prepared micro-batch: gradients added, scaled by `gradScale`.
    func train(slot: Int, loss: LossOptions, gradScale: Float, dropoutSeed: UInt64) -> CrossEntropyStats
    /// Validation loss, NLL and accuracy (dropout off), plus task-specific metrics (e.g. "bleu").
    func validate(loss: LossOptions, maxTokens: Int) -> (CrossEntropyStats, [String: Double])
    /// The cursor of a fresh run.
    func initialCursor(seed: UInt64) -> UInt64
}

/// Language modelling: random windows of T+1 tokens from the training stream.
public final class LanguageModelTask: TrainingTask {
    public let model: GPT
    public var trainable: TrainableModel { model }
    let train: [Int32], valid: [Int32], eos: Int32
    let B: Int, T: Int
    var inputs: [[Int32]], targets: [[Int32]]

    public init(model: GPT, train: [Int32], valid: [Int32], eos: Int32, batchSize: Int, gradAccum: Int) throws {
        self.model = model
        self.train = train; self.valid = valid; self.eos = eos
        B = batchSize; T = model.config.context
        guard train.count > T + 1 else { throw TrainingError.corpusTooSmall(file: "the training text", tokens: train.count, needed: T + 2) }
        guard valid.count > 1 else { throw TrainingError.corpusTooSmall(file: "the validation text", tokens: valid.count, needed: 2) }
        inputs = Array(repeating: [Int32](repeating: 0, count: B * T), count: gradAccum)
        targets = inputs
    }

    public func initialCursor(seed: UInt64) -> UInt64 { seed &* 0x2545_F491_4F6C_DD1D }

    public func prepare(slot: Int, cursor: inout UInt64) -> (targets: Int, tokens: Int) {
        var batcher = WindowBatcher(seed: cursor)
        inputs[slot].withUnsafeMutableBufferPointer { inp in
            targets[slot].withUnsafeMutableBufferPointer { tg in
                batcher.fill(inputs: inp.baseAddress!, targets: tg.baseAddress!, B: B, T: T, from: train)
            }
        }
        cursor = batcher.state
        return (B * T, B * T)
    }

    public func train(slot: Int, loss: LossOptions, gradScale: Float, dropoutSeed: UInt64) -> CrossEntropyStats {
        model.trainStep(ids: inputs[slot], targets: targets[slot], B: B, T: T, loss: loss, gradScale: gradScale, dropoutSeed: dropoutSeed)
    }

    public func validate(loss: LossOptions, maxTokens: Int) -> (CrossEntropyStats, [String: Double]) {
        (StreamEvaluator.evaluate(model: model, ids: valid, eos: eos, B: B, T: T, maxTokens: maxTokens, loss: loss), [:])
    }
}
