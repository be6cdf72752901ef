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

    /// Lays out `entries` (name, shape) in order, each tensor 64-byte aligned (16 floats) for the vector kernels.
    public init(_ entries: [(String, [Int])]) {
        var list: [TensorInfo] = []
        var off = 0
        for (name, shape) in entries {
            let t = TensorInfo(name: name, shape: shape, offset: off)
            off += (t.count + 15) / 16 * 16
            list.append(t)
        }
        tensors = list
        count = off
        index = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
    }

    public init(_ c: GPTConfig) {
        let d = c.dModel
        var e: [(String, [Int])] = [("wte.weight", [c.vocabSize, d]), ("wpe.weight", [c.context, d])]
        for l in 0..<c.layers { e += ParameterLayout.selfAttentionBlock("h.\(l).", d: d) }
        e += [("ln_f.weight", [d]), ("ln_f.bias", [d])]
        self.init(e)
    }

    /// The tensors of one GPT-2 block under `prefix` (LayerNorm, self-attention, LayerNorm, MLP), which the
    /// decoder-only model and the translation model's encoder share.
    public static func selfAttentionBlock(_ prefix: String, d: Int) -> [(String, [Int])] {
        [(prefix + "ln_1.weight", [d]), (prefix + "ln_1.bias", [d]),
         (prefix + "attn.c_attn.weight", [d, 3 * d]), (prefix + "attn.c_attn.bias", [3 * d]),
         (prefix + "attn.c_proj.weight", [d, d]), (prefix + "attn.c_proj.bias", [d]),
         (prefix + "ln_2.weight", [d]), (prefix + "ln_2.bias", [d]),
         (prefix + "mlp.c_fc.weight", [d, 4 * d]), (prefix + "mlp.c_fc.bias", [4 * d]),
         (prefix + "mlp.c_proj.weight", [4 * d, d]), (prefix + "mlp.c_proj.bias", [d])]
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
