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
    /// The best validation score so far (`TrainOptions.best`), its step, and the validations since it: early
    /// stopping resumes where it was. Optional so older checkpoints load.
    public var bestScore: Double? = nil, bestStep: Int? = nil, validationsSinceBest: Int? = nil
    /// The step of the last validation counted (a finished run resumed validates its last step again).
    public var trackedStep: Int? = nil
    public init(batcherState: UInt64) { self.batcherState = batcherState }
}

/// A checkpoint is two safetensors files, each written atomically (temporary file + rename):
/// RUN/model.safetensors (weights under HF GPT-2 names, loadable elsewhere) and RUN/optimizer.safetensors
/// (AdamW moments and the training state). Both record the step. Two renames cannot be one atomic step, so
/// the optimizer file of the checkpoint before stays reachable (a hard link, RUN/optimizer.previous.safetensors)
/// until the new weights are in place: whenever the process dies, the weights on disk have an optimizer file
/// of their own step, and loading picks it. With `keep` > 0 the weights are also kept as RUN/checkpoints/step-NNNNNNN.safetensors,
/// the newest `keep` of them, for checkpoint averaging (`lmtrain average`).
public enum Checkpoint {
    public static func save(run: String, model: TrainableModel, optimizer: AdamW, state: TrainState, keep: Int = 0) throws {
        let stateJSON = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let opt = [SafeTensors.Tensor("adamw.m", shape: [model.layout.count], floats: optimizer.m.base),
                   SafeTensors.Tensor("adamw.v", shape: [model.layout.count], floats: optimizer.v.base)]
        let paths = RunPaths(run)
        // The weights on disk are the last checkpoint's until the final rename below; keep their optimizer.
        unlink(paths.previousOptimizer)
        if link(paths.optimizer, paths.previousOptimizer) != 0 && errno != ENOENT {
            // A file system without hard links (some network and FAT mounts): a copy does the same, slower.
            do { try FileManager.default.copyItem(atPath: paths.optimizer, toPath: paths.previousOptimizer) } catch {
                throw RunError.unwritable(paths.previousOptimizer)
            }
        }
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
        unlink(paths.previousOptimizer)
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

    /// Whether RUN has a checkpoint at all. The weights are renamed in last, so without them there is none: a
    /// run killed before (or during) its first save starts over.
    public static func exists(run: String) -> Bool {
        FileManager.default.fileExists(atPath: RunPaths(run).weights)
    }

    /// The training state of RUN's checkpoint (step, time spent, data position), without loading the model;
    /// step 0 where the run has no checkpoint yet.
    public static func loadState(run: String) throws -> TrainState {
        if !exists(run: run) { return TrainState(batcherState: 0) }
        let weights: SafeTensors
        do { weights = try SafeTensors(path: RunPaths(run).weights) } catch { throw RunError.badCheckpoint("\(error)") }
        return try openOptimizer(run: run, step: Int(weights.metadata["step"] ?? "") ?? 0).state
    }

    /// The optimizer file of the checkpoint whose weights are from `step`: RUN/optimizer.safetensors, or the
    /// previous one where a save died between its two renames.
    static func openOptimizer(run: String, step: Int) throws -> (file: SafeTensors, state: TrainState, adamStep: Int, previous: Bool) {
        let paths = RunPaths(run)
        var found: [String] = []
        for path in [paths.optimizer, paths.previousOptimizer] where FileManager.default.fileExists(atPath: path) {
            let f: SafeTensors
            do { f = try SafeTensors(path: path) } catch { found.append("\(error)"); continue }
            guard let json = f.metadata["state"], let state = try? JSONDecoder().decode(TrainState.self, from: Data(json.utf8)),
                  let adamStep = Int(f.metadata["adam_step"] ?? "") else {
                found.append("\(path) has no training state"); continue
            }
            if state.step == step { return (f, state, adamStep, path == paths.previousOptimizer) }
            found.append("\(path) is from step \(state.step)")
        }
        if found.isEmpty { throw RunError.badCheckpoint("\(paths.optimizer) is missing") }
        throw RunError.badCheckpoint("no optimizer state for the weights of step \(step): " + found.joined(separator: "; "))
    }

    /// Loads the optimizer and training state that belong with the weights of step `weightsStep`.
    public static func loadOptimizer(run: String, into opt: AdamW, count: Int, weightsStep: Int) throws -> TrainState {
        let (f, state, adamStep, previous) = try openOptimizer(run: run, step: weightsStep)
        // A save died between its renames: make the pair consistent again before the next save links the
        // optimizer file as the previous one.
        if previous && rename(RunPaths(run).previousOptimizer, RunPaths(run).optimizer) != 0 {
            throw RunError.unwritable(RunPaths(run).optimizer)
        }
        do {
            try f.read("adamw.m", into: opt.m.base, shape: [count])
            try f.read("adamw.v", into: opt.v.base, shape: [count])
        } catch { throw RunError.badCheckpoint("\(error)") }
        opt.restore(step: adamStep)
        return state
    }
}
