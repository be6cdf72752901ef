import Foundation
import Model
import Runs

/// Checkpoint averaging (Vaswani et al. 2017; fairseq's average_checkpoints): the element-wise mean of the
/// weights of the last few checkpoints of one run. Late in training the weights wander around a minimum;
/// their mean usually sits nearer it than any one of them, so it scores a little better for free.
public enum CheckpointAverage {
    /// Averages the weight files at `paths` (same tensors, shapes and model format, checked before any
    /// arithmetic) and writes the mean atomically to `output`, with the last file's metadata plus
    /// "averaged_steps". Sums are kept in Double, so the mean is rounded to Float once, not once per file.
    public static func average(paths: [String], to output: String) throws {
        guard let lastPath = paths.last else { throw RunError.invalidOption("nothing to average: no checkpoint files given") }
        let files: [SafeTensors]
        do { files = try paths.map { try SafeTensors(path: $0) } } catch { throw RunError.badCheckpoint("\(error)") }
        let last = files.last!
        let names = last.entries.keys.sorted()
        for f in files {
            guard f.metadata["format"] == last.metadata["format"], sameJSON(f.metadata["config"], last.metadata["config"]) else {
                throw RunError.invalidOption("\(f.path) is from a different model than \(lastPath): average checkpoints of one run only")
            }
            guard f.entries.keys.sorted() == names,
                  names.allSatisfy({ f.entries[$0]!.shape == last.entries[$0]!.shape && f.entries[$0]!.dtype == .f32 }) else {
                throw RunError.invalidOption("\(f.path) does not have the same F32 tensors and shapes as \(lastPath): average checkpoints of one run only")
            }
        }
        var means: [[Float]] = []
        for name in names {
            let n = last.entries[name]!.count
            var sum = [Double](repeating: 0, count: n)
            for f in files {
                let x = try f.floats(name)
                for i in 0..<n { sum[i] += Double(x[i]) }
            }
            let scale = 1 / Double(files.count)
            means.append(sum.map { Float($0 * scale) })
        }
        var meta = last.metadata
        meta["averaged_steps"] = files.map { $0.metadata["step"] ?? "?" }.joined(separator: ",")
        let data = try withPointers(means) { ptrs in
            try SafeTensors.serialize(zip(names, ptrs).map { SafeTensors.Tensor($0, shape: last.entries[$0]!.shape, floats: $1) },
                                      metadata: meta)
        }
        try writeRunFile(data, to: output)
    }

    /// Whether two JSON texts hold the same value (key order aside: older lmtrain wrote configs unsorted).
    static func sameJSON(_ x: String?, _ y: String?) -> Bool {
        guard let x, let y else { return x == y }
        guard let a = try? JSONSerialization.jsonObject(with: Data(x.utf8)) as? NSDictionary,
              let b = try? JSONSerialization.jsonObject(with: Data(y.utf8)) as? NSDictionary else { return x == y }
        return a.isEqual(to: b as! [AnyHashable: Any])
    }

    /// Calls `body` with stable base pointers of every array (nested so each stays valid throughout).
    static func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) throws -> R) throws -> R {
        func go(_ i: Int, _ acc: [UnsafePointer<Float>]) throws -> R {
            if i == arrays.count { return try body(acc) }
            return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0.baseAddress!]) }
        }
        return try go(0, [])
    }
}
