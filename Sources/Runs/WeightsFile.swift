import Foundation
import Model

/// A model's weights as a safetensors file (RUN/model.safetensors, a kept snapshot, an average): the tensors
/// under the model's names, and metadata saying which model and step they are.
public enum WeightsFile {
    /// Loads a weights file into `model` after checking every tensor's name and shape (nothing is half-loaded:
    /// the file is validated as a whole first). Returns the step it was saved at.
    public static func load(path: String, into model: TrainableModel) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else {
            throw RunError.invalidOption("no weights file \(path): give the path of a .safetensors file written by lmtrain")
        }
        let f: SafeTensors
        do { f = try SafeTensors(path: path) } catch { throw RunError.badCheckpoint("\(error)") }
        for t in model.layout.tensors {
            guard let e = f.entries[t.name], e.shape == t.shape, e.dtype == .f32 else {
                throw RunError.badCheckpoint("\(path): tensor \(t.name) is missing or has the wrong shape for this model")
            }
        }
        for t in model.layout.tensors { try f.read(t.name, into: model.params.base + t.offset, shape: t.shape) }
        return Int(f.metadata["step"] ?? "") ?? 0
    }

    /// The weights of `model` at `step`, serialised (written by the caller, atomically).
    public static func serialize(_ model: TrainableModel, step: Int) throws -> Data {
        let weights = model.layout.tensors.map { t in
            SafeTensors.Tensor(t.name, shape: t.shape, floats: model.params.base + t.offset)
        }
        return try SafeTensors.serialize(weights, metadata: ["format": model.checkpointFormat, "config": try model.configJSON(),
                                                              "step": "\(step)"])
    }
}
