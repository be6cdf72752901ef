import FileIO
import Foundation
import Model
import Tokenizer

/// A translation model as Hugging Face `M2M100ForConditionalGeneration`, the transformers class that matches
/// lmtrain's encoder–decoder exactly: pre-LN sublayers, a final LayerNorm per stack, embeddings scaled by √d,
/// one shared table tied to both embeddings and `lm_head`, biases on every linear, no output bias, tanh GELU,
/// LayerNorm ε 1e-5, and fairseq's sinusoids, which it computes itself (so only runs trained with
/// `PositionTable.fairseq` export; `Exporter` refuses the rest). Marian and FSMT are post-LN; BART and mBART
/// learn their positions.
///
/// Tensors: lmtrain's fused `c_attn` [d, 3d] splits into q/k/v_proj and `cross.kv` [d, 2d] into k/v_proj,
/// each transposed to nn.Linear's [out, in]. The decoder starts from `<eos>` (as in fairseq and M2M100),
/// which is not the pad token.
enum HuggingFaceM2M100 {
    static func write(_ model: Seq2Seq, config c: Seq2SeqConfig, tokenizer: BPETokenizer, to dir: String) throws {
        let w = ModelWeights(model: model), set = SafeTensorsWriter(), d = c.dModel
        func linear(_ to: String, _ from: String, columns: Range<Int>? = nil) {
            let (shape, values) = w.linear(from + ".weight", columns: columns)
            set.add(to + ".weight", shape: shape, values)
            set.add(to + ".bias", shape: [shape[0]], w.vector(from + ".bias", range: columns))
        }
        func norm(_ to: String, _ from: String) {
            set.add(to + ".weight", shape: [d], w.values(from + ".weight"))
            set.add(to + ".bias", shape: [d], w.values(from + ".bias"))
        }
        func selfAttention(_ to: String, _ from: String) {
            norm(to + "self_attn_layer_norm", from + "ln_1")
            linear(to + "self_attn.q_proj", from + "attn.c_attn", columns: 0..<d)
            linear(to + "self_attn.k_proj", from + "attn.c_attn", columns: d..<2 * d)
            linear(to + "self_attn.v_proj", from + "attn.c_attn", columns: 2 * d..<3 * d)
            linear(to + "self_attn.out_proj", from + "attn.c_proj")
        }
        func mlp(_ to: String, _ from: String) {
            norm(to + "final_layer_norm", from + "ln_2")
            linear(to + "fc1", from + "mlp.c_fc")
            linear(to + "fc2", from + "mlp.c_proj")
        }
        set.add("model.shared.weight", shape: w.shape("shared.weight"), w.values("shared.weight"))
        for l in 0..<c.encoderLayers {
            selfAttention("model.encoder.layers.\(l).", "encoder.h.\(l).")
            mlp("model.encoder.layers.\(l).", "encoder.h.\(l).")
        }
        norm("model.encoder.layer_norm", "encoder.ln_f")
        for l in 0..<c.decoderLayers {
            let to = "model.decoder.layers.\(l).", from = "decoder.h.\(l)."
            selfAttention(to, from)
            norm(to + "encoder_attn_layer_norm", from + "ln_cross")
            linear(to + "encoder_attn.q_proj", from + "cross.q")
            linear(to + "encoder_attn.k_proj", from + "cross.kv", columns: 0..<d)
            linear(to + "encoder_attn.v_proj", from + "cross.kv", columns: d..<2 * d)
            linear(to + "encoder_attn.out_proj", from + "cross.c_proj")
            mlp(to, from)
        }
        norm("model.decoder.layer_norm", "decoder.ln_f")
        try writeAtomically(try set.serialize(metadata: ["format": "pt"]), to: dir + "/model.safetensors")

        let pad = Int(tokenizer.id(of: .pad)), bos = Int(tokenizer.id(of: .bos)), eos = Int(tokenizer.id(of: .eos))
        precondition(pad == 0, "fairseq's position rows start after padding index 0")
        let config: [String: Any] = [
            "architectures": ["M2M100ForConditionalGeneration"], "model_type": "m2m_100",
            "vocab_size": c.vocabSize, "d_model": c.dModel, "max_position_embeddings": c.maxLength,
            "encoder_layers": c.encoderLayers, "decoder_layers": c.decoderLayers,
            "encoder_attention_heads": c.heads, "decoder_attention_heads": c.heads,
            "encoder_ffn_dim": 4 * c.dModel, "decoder_ffn_dim": 4 * c.dModel,
            "activation_function": "gelu_new", "scale_embedding": true, "tie_word_embeddings": true,
            "dropout": Double(c.dropout), "attention_dropout": 0.0, "activation_dropout": 0.0,
            "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "init_std": 0.02, "use_cache": true, "is_encoder_decoder": true,
            "pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos, "decoder_start_token_id": eos, "dtype": "float32",
        ]
        try writeJSON(config, to: dir + "/config.json")
        // `lmtrain translate` never emits pad, bos or unk; `bad_words_ids` makes `generate` do the same.
        let generation: [String: Any] = ["pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos,
                                         "decoder_start_token_id": eos, "max_length": c.maxLength,
                                         "bad_words_ids": [[pad], [bos], [Int(tokenizer.id(of: .unk))]]]
        try writeJSON(generation, to: dir + "/generation_config.json")
        try HuggingFaceTokenizerFiles.write(tokenizer, to: dir, bos: .bos, appendEOS: true, maxLength: c.maxLength)
    }
}
