/// One named tensor inside a flat buffer.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Weight decay applies to matrices (and embeddings), not to biases or LayerNorm parameters.
    public var decays: Bool { shape.count >= 2 }
}

/// Where each parameter lives in the one flat buffer of a model, in Hugging Face GPT-2 naming (`wte.weight`,
/// `h.0.attn.c_attn.weight`, …) and GPT-2's Conv1D layout (matrices stored [in, out]), so an export to HF is a
/// rename (`transformer.` prefix) and nothing else.
public struct ParameterLayout: Sendable {
    public let tensors: [TensorInfo]
    public let count: Int
    private let index: [String: Int]

    public init(_ c: GPTConfig) {
        var list: [TensorInfo] = []
        var off = 0
        func add(_ name: String, _ shape: [Int]) {
            let t = TensorInfo(name: name, shape: shape, offset: off)
            // Keep every tensor 64-byte aligned (16 floats) for the vector kernels.
            off += (t.count + 15) / 16 * 16
            list.append(t)
        }
        let d = c.dModel
        add("wte.weight", [c.vocabSize, d])
        add("wpe.weight", [c.context, d])
        for l in 0..<c.layers {
            add("h.\(l).ln_1.weight", [d]); add("h.\(l).ln_1.bias", [d])
            add("h.\(l).attn.c_attn.weight", [d, 3 * d]); add("h.\(l).attn.c_attn.bias", [3 * d])
            add("h.\(l).attn.c_proj.weight", [d, d]); add("h.\(l).attn.c_proj.bias", [d])
            add("h.\(l).ln_2.weight", [d]); add("h.\(l).ln_2.bias", [d])
            add("h.\(l).mlp.c_fc.weight", [d, 4 * d]); add("h.\(l).mlp.c_fc.bias", [4 * d])
            add("h.\(l).mlp.c_proj.weight", [4 * d, d]); add("h.\(l).mlp.c_proj.bias", [d])
        }
        add("ln_f.weight", [d]); add("ln_f.bias", [d])
        tensors = list
        count = off
        index = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> TensorInfo { tensors[index[name]!] }
    public func contains(_ name: String) -> Bool { index[name] != nil }
}

/// A 64-byte aligned, zero-initialised float buffer that lives as long as its owner.
public final class FloatArena: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer? = nil
        let rc = posix_memalign(&raw, 64, max(count, 16) * MemoryLayout<Float>.stride)
        guard rc == 0, let raw else { fatalError("out of memory allocating \(count) floats") }
        base = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        base.initialize(repeating: 0, count: max(count, 16))
    }

    public func zero() { base.update(repeating: 0, count: count) }
    deinit { free(base) }
}

#if canImport(Glibc)
import Glibc
#endif
