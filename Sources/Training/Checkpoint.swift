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
/// renames) is detected on load. With `keep` > 0 the weights are also kept as RUN/checkpoints/step-NNNNNNN.safetensors,
/// the newest `keep` of them, for checkpoint averaging (`lmtrain average`).
public enum Checkpoint {
    public static func save(run: String, model: TrainableModel, optimizer: AdamW, state: TrainState, keep: Int = 0) throws {
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
        let weightData = try SafeTensors.serialize(weights, metadata: ["format": model.checkpointFormat, "config": configJSON,
                                                                        "step": "\(state.step)"])
        if keep > 0 {
            let dir = run + "/" + snapshotDirectory
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw TrainingError.unwritable(dir)
            }
            try writeFile(weightData, to: dir + "/" + snapshotName(step: state.step))
            for old in try snapshots(run: run).dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        }
        try writeFile(weightData, to: run + "/model.safetensors")
    }

    public static let snapshotDirectory = "checkpoints"
    static func snapshotName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits + ".safetensors"
    }

    /// The weight snapshots kept in RUN/checkpoints, oldest first.
    public static func snapshots(run: String) throws -> [(step: Int, path: String)] {
        let dir = run + "/" + snapshotDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> (step: Int, path: String)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"),
                  let step = Int(name.dropFirst(5).dropLast(12)) else { return nil }
            return (step, dir + "/" + name)
        }.sorted { $0.step < $1.step }
    }

    /// Loads weights into `model` after checking every tensor's name and shape (nothing is half-loaded:
    /// the file is validated as a whole first).
    public static func loadWeights(run: String, into model: TrainableModel) throws -> Int {
        try loadWeights(path: run + "/model.safetensors", into: model)
    }

    /// Loads a weights file (a run's model.safetensors, a kept snapshot or an averaged one) into `model`.
    public static func loadWeights(path: String, into model: TrainableModel) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError.invalidOption("no weights file \(path): give the path of a .safetensors file written by lmtrain")
        }
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
