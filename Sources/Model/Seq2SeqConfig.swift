import Foundation

/// Shape of an encoder–decoder transformer (Vaswani et al. 2017) with the choices of current toolkits:
/// pre-LayerNorm sublayers with a final LayerNorm on each stack (fairseq's `--*-normalize-before`, more
/// stable to train from scratch without a long warm-up than the paper's post-LN), sinusoidal positions (no
/// parameters, so any length up to `maxLength` works), token embeddings scaled by √d, one joint embedding
/// table shared by the encoder input, the decoder input and the output projection, GELU MLPs of 4·d.
public struct Seq2SeqConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Longest source or target sequence in tokens, EOS included (rows of the position table).
    public var maxLength: Int
    public var dModel: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    public var heads: Int
    public var dropout: Float

    public init(vocabSize: Int, maxLength: Int, dModel: Int, encoderLayers: Int, decoderLayers: Int, heads: Int,
                dropout: Float = 0) {
        self.vocabSize = vocabSize; self.maxLength = maxLength; self.dModel = dModel
        self.encoderLayers = encoderLayers; self.decoderLayers = decoderLayers; self.heads = heads
        self.dropout = dropout
    }

    /// tiny: d 64, 2+2 layers (tests); small: d 256, 3+3 layers, 4 heads (an hour on 2 cores); base:
    /// d 512, 6+6 layers, 8 heads (the paper's base model).
    public static func preset(_ p: GPTConfig.Preset, vocabSize: Int) -> Seq2SeqConfig {
        switch p {
        case .tiny: return Seq2SeqConfig(vocabSize: vocabSize, maxLength: 128, dModel: 64, encoderLayers: 2, decoderLayers: 2, heads: 4, dropout: 0)
        case .small: return Seq2SeqConfig(vocabSize: vocabSize, maxLength: 256, dModel: 256, encoderLayers: 3, decoderLayers: 3, heads: 4, dropout: 0.1)
        case .base: return Seq2SeqConfig(vocabSize: vocabSize, maxLength: 256, dModel: 512, encoderLayers: 6, decoderLayers: 6, heads: 8, dropout: 0.1)
        }
    }

    public var headSize: Int { dModel / heads }

    public var problem: String? {
        if vocabSize < 2 { return "vocabulary size must be at least 2" }
        if maxLength < 2 || dModel < 2 || encoderLayers < 1 || decoderLayers < 1 || heads < 1 {
            return "max length, d-model, layers and heads must be at least 1"
        }
        if dModel % heads != 0 { return "d-model \(dModel) is not divisible by heads \(heads)" }
        if dModel % 2 != 0 { return "d-model must be even (sinusoidal positions pair sines and cosines)" }
        if !(0..<1).contains(dropout) { return "dropout must be in [0, 1)" }
        return nil
    }

    public var parameterCount: Int { Seq2SeqLayout.make(self).count }

    /// Training FLOPs per target token for sources of `srcPerTgt` tokens per target token and mean lengths
    /// S (source) and T (target): 6 per matrix parameter touched per token (encoder parameters per source
    /// token, the rest per target token) plus attention's score and mix products.
    public func trainingFlopsPerTargetToken(srcPerTgt: Double, S: Double, T: Double) -> Double {
        let d = Double(dModel), V = Double(vocabSize)
        let enc = Double(encoderLayers) * 12 * d * d, dec = Double(decoderLayers) * 16 * d * d
        let crossKV = Double(decoderLayers) * 2 * d * d
        let attn = Double(encoderLayers) * 2 * S * d * srcPerTgt + Double(decoderLayers) * 2 * (T + S) * d
        return 6 * (V * d + dec + (enc + crossKV) * srcPerTgt) + 6 * attn
    }
}

/// The translation model's tensors: `shared.weight` (the joint embedding), `encoder.h.N.*` (GPT-2 block
/// names), `decoder.h.N.*` (the same plus `ln_cross` and `cross.{q,kv,c_proj}` for cross-attention), and a
/// final `ln_f` per stack. Matrices are [in, out] as in the decoder-only model.
public enum Seq2SeqLayout {
    public static func make(_ c: Seq2SeqConfig) -> ParameterLayout {
        let d = c.dModel
        var e: [(String, [Int])] = [("shared.weight", [c.vocabSize, d])]
        for l in 0..<c.encoderLayers { e += ParameterLayout.selfAttentionBlock("encoder.h.\(l).", d: d) }
        e += [("encoder.ln_f.weight", [d]), ("encoder.ln_f.bias", [d])]
        for l in 0..<c.decoderLayers {
            let p = "decoder.h.\(l)."
            e += ParameterLayout.selfAttentionBlock(p, d: d)
            e += [(p + "ln_cross.weight", [d]), (p + "ln_cross.bias", [d]),
                  (p + "cross.q.weight", [d, d]), (p + "cross.q.bias", [d]),
                  (p + "cross.kv.weight", [d, 2 * d]), (p + "cross.kv.bias", [2 * d]),
                  (p + "cross.c_proj.weight", [d, d]), (p + "cross.c_proj.bias", [d])]
        }
        e += [("decoder.ln_f.weight", [d]), ("decoder.ln_f.bias", [d])]
        return ParameterLayout(e)
    }
}
