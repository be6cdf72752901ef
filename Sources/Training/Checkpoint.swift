import Foundation
import Kernels
import Model
import Runs

/// Where training stands: saved with the optimizer so a resumed run continues exactly.
public struct TrainState: Codable, Sendable, Equatable {
    public var step = 0
    public var batcherState: UInt64
    /// Steps of the schedule (from --steps; nil with only a time budget, whose schedule runs on the clock).
    public var totalSteps: Int?
    public var tokens = 0
    /// Wall-clock seconds of the run so far (set-up, training, validation and checkpoints of every sitting).
    public var elapsed = 0.0
    /// A time-budgeted run: `elapsed` when its warm-up ended (nil before, and for step budgets).
    public var warmupEnded: Double? = nil
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
        let opt = [SafeTensors.Tensor("adamw.m", shape: [model.layout.count], floats: optimizer.m.base),
                   SafeTensors.Tensor("adamw.v", shape: [model.layout.count], floats: optimizer.v.base)]
        let paths = RunPaths(run)
        try writeRunFile(try SafeTensors.serialize(opt, metadata: ["format": "lmtrain-optimizer", "state": stateJSON,
                                                                 "adam_step": "\(optimizer.step)"]),
                      to: paths.optimizer)
        let weightData = try WeightsFile.serialize(model, step: state.step)
        if keep > 0 {
            let dir = paths.snapshots
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw RunError.unwritable(dir)
            }
            try writeRunFile(weightData, to: dir + "/" + snapshotName(step: state.step))
            for old in try snapshots(run: run).dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        }
        try writeRunFile(weightData, to: paths.weights)
    }

    static func snapshotName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits + ".safetensors"
    }

    /// The weight snapshots kept in RUN/checkpoints, oldest first.
    public static func snapshots(run: String) throws -> [(step: Int, path: String)] {
        let dir = RunPaths(run).snapshots
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> (step: Int, path: String)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"),
                  let step = Int(name.dropFirst(5).dropLast(12)) else { return nil }
            return (step, dir + "/" + name)
        }.sorted { $0.step < $1.step }
    }

    /// Loads RUN/model.safetensors into `model`; returns its step.
    public static func loadWeights(run: String, into model: TrainableModel) throws -> Int {
        try WeightsFile.load(path: RunPaths(run).weights, into: model)
    }

    /// The training state of RUN's checkpoint (step, time spent, data position), without loading the model.
    public static func loadState(run: String) throws -> TrainState {
        try openOptimizer(run: run).state
    }

    static func openOptimizer(run: String) throws -> (file: SafeTensors, state: TrainState, adamStep: Int) {
        let path = RunPaths(run).optimizer
        let f: SafeTensors
        do { f = try SafeTensors(path: path) } catch { throw RunError.badCheckpoint("\(error)") }
        guard let json = f.metadata["state"], let state = try? JSONDecoder().decode(TrainState.self, from: Data(json.utf8)),
              let adamStep = Int(f.metadata["adam_step"] ?? "") else {
            throw RunError.badCheckpoint("\(path) has no training state")
        }
        return (f, state, adamStep)
    }

    /// Loads the optimizer and training state, checking it belongs with the weights of step `weightsStep`.
    public static func loadOptimizer(run: String, into opt: AdamW, count: Int, weightsStep: Int) throws -> TrainState {
        let path = RunPaths(run).optimizer
        let (f, state, adamStep) = try openOptimizer(run: run)
        guard state.step == weightsStep else {
            throw RunError.badCheckpoint("\(path) is from step \(state.step) but the weights are from step \(weightsStep)")
        }
        do {
            try f.read("adamw.m", into: opt.m.base, shape: [count])
            try f.read("adamw.v", into: opt.v.base, shape: [count])
        } catch { throw RunError.badCheckpoint("\(error)") }
        opt.restore(step: adamStep)
        return state
    }
}
