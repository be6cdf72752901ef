import Foundation

/// Shape of an encoder–decoder transformer (Vaswani et al. 2017) with the choices of current toolkits:
/// pre-LayerNorm sublayers with a final LayerNorm on each stack (fairseq's `--*-normalize-before`, more
/// stable to train from scratch without a long warm-up than the paper's post-LN), sinusoidal positions (no
/// parameters, so any length up to `maxLength` works; see `PositionTable`), token embeddings scaled by √d, one
/// joint embedding table shared by the encoder input, the decoder input and the output projection, GELU MLPs
/// of 4·d.
public struct Seq2SeqConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    /// Longest source or target sequence in tokens, EOS included (rows of the position table).
    public var maxLength: Int
    public var dModel: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    public var heads: Int
    public var dropout: Float
    /// Which sinusoid table the model adds to its inputs. New models use `.fairseq`; runs written before the
    /// choice existed (no `positions` key) are `.interleaved`, and keep it.
    public var positions: PositionTable

    public init(vocabSize: Int, maxLength: Int, dModel: Int, encoderLayers: Int, decoderLayers: Int, heads: Int,
                dropout: Float = 0, positions: PositionTable = .fairseq) {
        self.vocabSize = vocabSize; self.maxLength = maxLength; self.dModel = dModel
        self.encoderLayers = encoderLayers; self.decoderLayers = decoderLayers; self.heads = heads
        self.dropout = dropout; self.positions = positions
    }

    enum CodingKeys: String, CodingKey { case vocabSize, maxLength, dModel, encoderLayers, decoderLayers, heads, dropout, positions }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vocabSize: try c.decode(Int.self, forKey: .vocabSize), maxLength: try c.decode(Int.self, forKey: .maxLength),
                  dModel: try c.decode(Int.self, forKey: .dModel), encoderLayers: try c.decode(Int.self, forKey: .encoderLayers),
                  decoderLayers: try c.decode(Int.self, forKey: .decoderLayers), heads: try c.decode(Int.self, forKey: .heads),
                  dropout: try c.decode(Float.self, forKey: .dropout),
                  positions: try c.decodeIfPresent(PositionTable.self, forKey: .positions) ?? .interleaved)
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
        // Bounds far above any model this trainer makes, so that sizes computed from a damaged configuration
        // cannot overflow.
        if vocabSize > 1 << 24 || maxLength > 1 << 20 || dModel > 1 << 16 || encoderLayers > 1 << 10 || decoderLayers > 1 << 10 || heads > dModel {
            return "the shape is out of range (vocabulary ≤ 16M, max length ≤ 1M, d-model ≤ 65,536, layers ≤ 1,024, heads ≤ d-model)"
        }
        if dModel % heads != 0 { return "d-model \(dModel) is not divisible by heads \(heads)" }
        if dModel % 2 != 0 { return "d-model must be even (sinusoidal positions pair sines and cosines)" }
        if positions == .fairseq && dModel < 4 { return "d-model must be at least 4 (the fairseq sinusoids divide by d/2 − 1)" }
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

/// The sinusoidal position table of a translation model: row p is added to the input at position p (0-based).
public enum PositionTable: String, Codable, Sendable, CaseIterable {
    /// Vaswani et al. 2017 from position 0: channel 2i is sin(p·ω_i), channel 2i+1 cos(p·ω_i), ω_i = 10000^(−2i/d).
    /// lmtrain's table before it could export; no Hugging Face class computes it.
    case interleaved
    /// fairseq's `SinusoidalPositionalEmbedding`, which Hugging Face's M2M100 rebuilds on load: the first half
    /// of the channels sin(r·ω_k), the second half cos(r·ω_k), ω_k = exp(−k·ln 10000 / (d/2 − 1)), and the
    /// token at position p uses row r = p + 1 (the row after the padding index 0). Computed in float32 as
    /// PyTorch does, so an exported model's positions agree to the last bit or two.
    case fairseq

    /// The table [rows, d] for positions 0..<rows.
    public func table(rows: Int, d: Int) -> [Float] {
        var t = [Float](repeating: 0, count: rows * d)
        switch self {
        case .interleaved:
            for p in 0..<rows {
                for i in stride(from: 0, to: d, by: 2) {
                    let angle = Double(p) / pow(10000, Double(i) / Double(d))
                    t[p * d + i] = Float(sin(angle))
                    t[p * d + i + 1] = Float(cos(angle))
                }
            }
        case .fairseq:
            let half = d / 2
            let step = Float(log(10000.0) / Double(half - 1))
            let omega = (0..<half).map { expf(Float($0) * -step) }
            for p in 0..<rows {
                let r = Float(p + 1)
                for k in 0..<half {
                    let a = r * omega[k]
                    t[p * d + k] = sinf(a)
                    t[p * d + half + k] = cosf(a)
                }
            }
        }
        return t
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
