/// Shape of a GPT-style decoder: pre-LayerNorm blocks, learned positions, causal multi-head attention,
/// GELU (tanh) MLP of 4·d, input and output embeddings tied.
public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Maximum sequence length (rows of the position embedding).
    public var context: Int
    public var dModel: Int
    public var layers: Int
    public var heads: Int
    /// Dropout on the embeddings and on each residual branch (attention and MLP outputs).
    public var dropout: Float

    public init(vocabSize: Int, context: Int, dModel: Int, layers: Int, heads: Int, dropout: Float = 0) {
        self.vocabSize = vocabSize; self.context = context; self.dModel = dModel
        self.layers = layers; self.heads = heads; self.dropout = dropout
    }

    public enum Preset: String, CaseIterable, Sendable {
        case tiny, small, base
    }

    /// tiny: d 128, 2 layers, 4 heads, context 64 (tests, smoke runs); small: d 256, 4 layers, 4 heads,
    /// context 128 (the benchmarks' config A); base: d 512, 6 layers, 8 heads, context 128 (config B).
    public static func preset(_ p: Preset, vocabSize: Int) -> GPTConfig {
        switch p {
        case .tiny: return GPTConfig(vocabSize: vocabSize, context: 64, dModel: 128, layers: 2, heads: 4, dropout: 0.0)
        case .small: return GPTConfig(vocabSize: vocabSize, context: 128, dModel: 256, layers: 4, heads: 4, dropout: 0.1)
        case .base: return GPTConfig(vocabSize: vocabSize, context: 128, dModel: 512, layers: 6, heads: 8, dropout: 0.1)
        }
    }

    public var headSize: Int { dModel / heads }

    /// Reasons this shape cannot be built, or nil.
    public var problem: String? {
        if vocabSize < 2 { return "vocabulary size must be at least 2" }
        if context < 1 || dModel < 1 || layers < 1 || heads < 1 { return "context, d-model, layers and heads must be at least 1" }
        // Bounds far above any model this trainer makes, so that sizes computed from a damaged configuration
        // cannot overflow.
        if vocabSize > 1 << 24 || context > 1 << 20 || dModel > 1 << 16 || layers > 1 << 10 || heads > dModel {
            return "the shape is out of range (vocabulary ≤ 16M, context ≤ 1M, d-model ≤ 65,536, layers ≤ 1,024, heads ≤ d-model)"
        }
        if dModel % heads != 0 { return "d-model \(dModel) is not divisible by heads \(heads)" }
        if !(0..<1).contains(dropout) { return "dropout must be in [0, 1)" }
        return nil
    }

    /// Parameters (tied embeddings counted once).
    public var parameterCount: Int { ParameterLayout(self).count }

    /// Training FLOPs per token: 6 per parameter for the matmuls plus attention's 6·L·T·d (scores and mix,
    /// forward and backward, causal half included as in PaLM's MFU convention's dense count).
    public func trainingFlopsPerToken(sequence T: Int) -> Double {
        6 * Double(parameterCount) + 6 * Double(layers * T * dModel)
    }
}
