import Kernels
import Model

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
    /// Epochs of training data seen by the time the cursor is `cursor` and `tokens` tokens were trained
    /// (fractional; for the metrics log).
    func epochs(cursor: UInt64, tokens: Int) -> Double
}
