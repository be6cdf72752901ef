import Foundation
import Kernels
import Datasets
import Evaluation
import Model
import Runs

/// Language modelling: random windows of T+1 tokens from the training stream.
public final class LanguageModelTask: TrainingTask {
    public let model: GPT
    public var trainable: TrainableModel { model }
    let train: TokenIDs, valid: [Int32], eos: Int32
    let B: Int, T: Int
    var inputs: [[Int32]], targets: [[Int32]]

    public init(model: GPT, train: TokenIDs, valid: [Int32], eos: Int32, batchSize: Int, gradAccum: Int) throws {
        self.model = model
        self.train = train; self.valid = valid; self.eos = eos
        B = batchSize; T = model.config.context
        guard train.count > T + 1 else { throw RunError.corpusTooSmall(file: "the training text", tokens: train.count, needed: T + 2) }
        guard valid.count > 1 else { throw RunError.corpusTooSmall(file: "the validation text", tokens: valid.count, needed: 2) }
        inputs = Array(repeating: [Int32](repeating: 0, count: B * T), count: gradAccum)
        targets = inputs
    }

    public func initialCursor(seed: UInt64) -> UInt64 { seed &* 0x2545_F491_4F6C_DD1D }

    /// Windows are drawn at random, so an epoch is as many predicted tokens as the training stream holds.
    public func epochs(cursor: UInt64, tokens: Int) -> Double { Double(tokens) / Double(train.count) }

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
