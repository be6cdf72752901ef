import Foundation
import Kernels

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
public func sortedJSON<T: Encodable>(_ value: T) throws -> String {
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

