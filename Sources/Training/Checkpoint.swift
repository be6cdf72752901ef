import Foundation
import Kernels
import Model
import Tokenizer

/// Where training stands: saved with the optimizer so a resumed run continues exactly.
public struct TrainState: Codable, Sendable, Equatable {
    public var step = 0
    public var batcherState: UInt64
    /// Steps of the schedule (fixed once known; from --steps, or estimated from --time after a few steps).
    public var totalSteps: Int?
    public var tokens = 0
    public var elapsed = 0.0
    public init(batcherState: UInt64) { self.batcherState = batcherState }
}

/// A checkpoint is two safetensors files, each written atomically (temporary file + rename):
/// RUN/model.safetensors (weights under HF GPT-2 names, loadable elsewhere) and RUN/optimizer.safetensors
/// (AdamW moments and the training state). Both record the step; a mismatch (a crash between the two
/// renames) is detected on load.
public enum Checkpoint {
    public static func save(run: String, model: TrainableModel, optimizer: AdamW, state: TrainState) throws {
        let stateJSON = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let configJSON = try model.configJSON()
        let weights = model.layout.tensors.map { t in
            SafeTensors.Tensor(t.name, shape: t.shape, floats: model.params.base + t.offset)
        }
        let opt = [SafeTensors.Tensor("adamw.m", shape: [model.layout.count], floats: optimizer.m.base),
                   SafeTensors.Tensor("adamw.v", shape: [model.layout.count], floats: optimizer.v.base)]
        try writeFile(try SafeTensors.serialize(opt, metadata: ["format": "lmtrain-optimizer", "state": stateJSON,
                                                                 "adam_step": "\(optimizer.step)"]),
                      to: run + "/optimizer.safetensors")
        try writeFile(try SafeTensors.serialize(weights, metadata: ["format": model.checkpointFormat, "config": configJSON,
                                                                     "step": "\(state.step)"]),
                      to: run + "/model.safetensors")
    }

    /// Loads weights into `model` after checking every tensor's name and shape (nothing is half-loaded:
    /// the file is validated as a whole first).
    public static func loadWeights(run: String, into model: TrainableModel) throws -> Int {
        let path = run + "/model.safetensors"
        let f: SafeTensors
        do { f = try SafeTensors(path: path) } catch { throw TrainingError.badCheckpoint("\(error)") }
        for t in model.layout.tensors {
            guard let e = f.entries[t.name], e.shape == t.shape, e.dtype == .f32 else {
                throw TrainingError.badCheckpoint("\(path): tensor \(t.name) is missing or has the wrong shape for this model")
            }
        }
        for t in model.layout.tensors { try f.read(t.name, into: model.params.base + t.offset, shape: t.shape) }
        return Int(f.metadata["step"] ?? "") ?? 0
    }

    /// Loads the optimizer and training state, checking it belongs with the weights of step `weightsStep`.
    public static func loadOptimizer(run: String, into opt: AdamW, count: Int, weightsStep: Int) throws -> TrainState {
        let path = run + "/optimizer.safetensors"
        let f: SafeTensors
        do { f = try SafeTensors(path: path) } catch { throw TrainingError.badCheckpoint("\(error)") }
        guard let json = f.metadata["state"], let state = try? JSONDecoder().decode(TrainState.self, from: Data(json.utf8)),
              let adamStep = Int(f.metadata["adam_step"] ?? "") else {
            throw TrainingError.badCheckpoint("\(path) has no training state")
        }
        guard state.step == weightsStep else {
            throw TrainingError.badCheckpoint("\(path) is from step \(state.step) but the weights are from step \(weightsStep)")
        }
        do {
            try f.read("adamw.m", into: opt.m.base, shape: [count])
            try f.read("adamw.v", into: opt.v.base, shape: [count])
        } catch { throw TrainingError.badCheckpoint("\(error)") }
        opt.restore(step: adamStep)
        return state
    }
}
