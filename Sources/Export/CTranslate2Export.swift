import FileIO
import Foundation
import Model
import Tokenizer

/// lmtrain models as CTranslate2 models, written from Swift: the variables, scalars and config that
/// `ctranslate2.specs.TransformerSpec.from_config((enc, dec), heads, pre_norm=True, activation=GELUTanh)` (a
/// translation model) and `TransformerDecoderModelSpec.from_config(layers, heads, pre_norm=True, ...)` (a
/// language model) hold once filled, validated and optimised, so exporting needs neither Python nor PyTorch.
///
/// Matrices are [out, in]; the fused self-attention Q;K;V is `linear_0` (lmtrain's c_attn transposed, heads
/// contiguous in each third as CTranslate2 splits them), cross-attention is Q in `linear_0` and the fused K;V
/// in `linear_1`. The shared table is stored once as `decoder/embeddings/weight` with the encoder's embedding
/// and the output projection as aliases, as `optimize()` would. Positions are lmtrain's own table, so runs of
/// either position table export (CTranslate2 adds row i at position i; it refuses inputs longer than the
/// table).
enum CTranslate2Export {
    /// Spec names and revisions of CTranslate2 4.x.
    static let translatorSpec = ("TransformerSpec", UInt32(7)), generatorSpec = ("TransformerDecoderSpec", UInt32(8))
    /// `common_spec.Activation.GELUTanh`.
    static let geluTanh: Int8 = 1

    static func writeTranslator(_ model: Seq2Seq, config c: Seq2SeqConfig, tokenizer: BPETokenizer, to dir: String) throws {
        let w = ModelWeights(model: model), d = c.dModel
        var f = CTranslate2ModelFile(spec: translatorSpec.0, revision: translatorSpec.1)
        f["decoder/embeddings/weight"] = .float32(shape: w.shape("shared.weight"), w.values("shared.weight"))
        f["encoder/embeddings_0/weight"] = .alias(of: "decoder/embeddings/weight")
        f["decoder/projection/weight"] = .alias(of: "decoder/embeddings/weight")
        f["decoder/position_encodings/encodings"] = .float32(shape: [c.maxLength, d], c.positions.table(rows: c.maxLength, d: d))
        f["encoder/position_encodings/encodings"] = .alias(of: "decoder/position_encodings/encodings")
        for l in 0..<c.encoderLayers {
            let to = "encoder/layer_\(l)/", from = "encoder.h.\(l)."
            selfAttention(&f, w, to, from)
            ffn(&f, w, to, from)
        }
        norm(&f, w, "encoder/layer_norm", "encoder.ln_f")
        for l in 0..<c.decoderLayers {
            let to = "decoder/layer_\(l)/", from = "decoder.h.\(l)."
            selfAttention(&f, w, to, from)
            norm(&f, w, to + "attention/layer_norm", from + "ln_cross")
            linear(&f, w, to + "attention/linear_0", from + "cross.q")
            linear(&f, w, to + "attention/linear_1", from + "cross.kv")
            linear(&f, w, to + "attention/linear_2", from + "cross.c_proj")
            ffn(&f, w, to, from)
        }
        norm(&f, w, "decoder/layer_norm", "decoder.ln_f")
        for stack in ["encoder", "decoder"] {
            f[stack + "/num_heads"] = .int16(Int16(c.heads))
            f[stack + "/pre_norm"] = .int8(1)
            f[stack + "/activation"] = .int8(geluTanh)
            f[stack + "/scale_embeddings"] = .int8(1)   // inputs are √d·E[id] + PE
        }
        f["encoder/embeddings_merge"] = .int8(0)
        f["encoder/multi_query_attention"] = .int8(0)
        decoderDefaults(&f)
        try writeAtomically(f.serialize(), to: dir + "/model.bin")
        try writeJSON(["add_source_bos": false, "add_source_eos": true,   // lmtrain's sources end in <eos>
                       "bos_token": SpecialToken.bos.rawValue, "eos_token": SpecialToken.eos.rawValue,
                       "decoder_start_token": SpecialToken.eos.rawValue, "unk_token": SpecialToken.unk.rawValue,
                       "layer_norm_epsilon": 1e-5, "multi_query_attention": false], to: dir + "/config.json")
        try writeVocabulary(tokenizer, to: dir + "/shared_vocabulary.json")
    }

    static func writeLanguageModel(_ model: GPT, config c: GPTConfig, tokenizer: BPETokenizer, to dir: String) throws {
        let w = ModelWeights(model: model)
        var f = CTranslate2ModelFile(spec: generatorSpec.0, revision: generatorSpec.1)
        f["decoder/embeddings/weight"] = .float32(shape: w.shape("wte.weight"), w.values("wte.weight"))
        f["decoder/projection/weight"] = .alias(of: "decoder/embeddings/weight")
        f["decoder/position_encodings/encodings"] = .float32(shape: w.shape("wpe.weight"), w.values("wpe.weight"))
        for l in 0..<c.layers {
            selfAttention(&f, w, "decoder/layer_\(l)/", "h.\(l).")
            ffn(&f, w, "decoder/layer_\(l)/", "h.\(l).")
        }
        norm(&f, w, "decoder/layer_norm", "ln_f")
        f["decoder/num_heads"] = .int16(Int16(c.heads))
        f["decoder/pre_norm"] = .int8(1)
        f["decoder/activation"] = .int8(geluTanh)
        f["decoder/scale_embeddings"] = .int8(0)
        decoderDefaults(&f)
        try writeAtomically(f.serialize(), to: dir + "/model.bin")
        // `multi_query_attention` true is what the spec writes when num_heads_kv is left unset, as
        // ct2-transformers-converter leaves it for GPT-2; the heads' K and V are still full (num_heads_kv absent).
        // A prompt starts with <eos>, as lmtrain's do (lines are joined with <eos> in training).
        try writeJSON(["bos_token": SpecialToken.eos.rawValue, "eos_token": SpecialToken.eos.rawValue,
                       "unk_token": SpecialToken.unk.rawValue, "layer_norm_epsilon": 1e-5,
                       "multi_query_attention": true], to: dir + "/config.json")
        try writeVocabulary(tokenizer, to: dir + "/vocabulary.json")
    }

    /// Scalars every Transformer decoder spec holds, at their `from_config` defaults (no ALiBi, alignment
    /// heads for guided alignment unused).
    static func decoderDefaults(_ f: inout CTranslate2ModelFile) {
        f["decoder/alibi"] = .int8(0)
        f["decoder/alibi_use_positive_positions"] = .int8(0)
        f["decoder/scale_alibi"] = .int8(0)
        f["decoder/start_from_zero_embedding"] = .int8(0)
        f["decoder/alignment_heads"] = .int16(1)
        f["decoder/alignment_layer"] = .int16(-1)
    }

    static func linear(_ f: inout CTranslate2ModelFile, _ w: ModelWeights, _ to: String, _ from: String) {
        let (shape, values) = w.linear(from + ".weight")
        f[to + "/weight"] = .float32(shape: shape, values)
        f[to + "/bias"] = .float32(shape: [shape[0]], w.values(from + ".bias"))
    }

    static func norm(_ f: inout CTranslate2ModelFile, _ w: ModelWeights, _ to: String, _ from: String) {
        f[to + "/gamma"] = .float32(shape: w.shape(from + ".weight"), w.values(from + ".weight"))
        f[to + "/beta"] = .float32(shape: w.shape(from + ".bias"), w.values(from + ".bias"))
    }

    static func selfAttention(_ f: inout CTranslate2ModelFile, _ w: ModelWeights, _ to: String, _ from: String) {
        norm(&f, w, to + "self_attention/layer_norm", from + "ln_1")
        linear(&f, w, to + "self_attention/linear_0", from + "attn.c_attn")
        linear(&f, w, to + "self_attention/linear_1", from + "attn.c_proj")
    }

    static func ffn(_ f: inout CTranslate2ModelFile, _ w: ModelWeights, _ to: String, _ from: String) {
        norm(&f, w, to + "ffn/layer_norm", from + "ln_2")
        linear(&f, w, to + "ffn/linear_0", from + "mlp.c_fc")
        linear(&f, w, to + "ffn/linear_1", from + "mlp.c_proj")
    }

    /// The vocabulary as CTranslate2 reads it: a JSON list of the pieces in id order (it takes tokens as
    /// strings, so a caller passes lmtrain's pieces, e.g. `▁the` or `<0x41>`).
    static func writeVocabulary(_ t: BPETokenizer, to path: String) throws {
        let d = try JSONSerialization.data(withJSONObject: t.vocabulary.pieces, options: [.prettyPrinted, .withoutEscapingSlashes])
        try writeAtomically(d + Data("\n".utf8), to: path)
    }
}
