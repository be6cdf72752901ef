import Foundation
import Model

/// The weights of a loaded lmtrain model, read by name. lmtrain stores matrices [in, out] (GPT-2's Conv1D
/// layout, x·W + b); `linear` gives a slice of output columns as [out, in], the layout of PyTorch's
/// nn.Linear and of CTranslate2.
struct ModelWeights {
    let model: TrainableModel

    func shape(_ name: String) -> [Int] { model.layout[name].shape }

    /// A tensor as stored.
    func values(_ name: String) -> [Float] {
        let t = model.layout[name]
        return Array(UnsafeBufferPointer(start: model.params.base + t.offset, count: t.count))
    }

    /// Columns `columns` (all by default) of the [in, out] matrix `name`, transposed to [out, in].
    func linear(_ name: String, columns: Range<Int>? = nil) -> (shape: [Int], values: [Float]) {
        let t = model.layout[name]
        let inputs = t.shape[0], outputs = t.shape[1], cols = columns ?? 0..<outputs
        let w = model.params.base + t.offset
        var out = [Float](repeating: 0, count: cols.count * inputs)
        for (o, c) in cols.enumerated() {
            for i in 0..<inputs { out[o * inputs + i] = w[i * outputs + c] }
        }
        return ([cols.count, inputs], out)
    }

    /// Entries `range` (all by default) of the vector `name`.
    func vector(_ name: String, range: Range<Int>? = nil) -> [Float] {
        let v = values(name)
        return range.map { Array(v[$0]) } ?? v
    }
}
