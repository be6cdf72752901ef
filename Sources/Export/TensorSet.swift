import Foundation
import Model

/// Tensors copied out of a model in the layout another library reads, owned here until they are written.
/// (The safetensors serialiser takes raw pointers, so the copies live in buffers this class frees.)
final class TensorSet {
    struct Entry {
        let name: String
        let shape: [Int]
        let data: UnsafeMutableBufferPointer<Float>
    }
    private(set) var entries: [Entry] = []

    func add(_ name: String, shape: [Int], _ values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
        let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, values.count))
        _ = buf.initialize(from: values)
        entries.append(Entry(name: name, shape: shape, data: buf))
    }

    deinit { for e in entries { e.data.deallocate() } }

    /// A safetensors file of every tensor, in the order added.
    func safetensors(metadata: [String: String]) throws -> Data {
        try SafeTensors.serialize(entries.map { SafeTensors.Tensor($0.name, shape: $0.shape, floats: UnsafePointer($0.data.baseAddress!)) },
                                  metadata: metadata)
    }
}

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
