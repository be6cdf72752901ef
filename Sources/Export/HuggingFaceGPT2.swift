import FileIO
import Foundation
import Model
import Tokenizer

/// A language model as Hugging Face GPT-2 (`GPT2LMHeadModel`). lmtrain's GPT is GPT-2's architecture with
/// GPT-2's tensor names and layout (pre-LN blocks, learned positions, tanh GELU, Conv1D matrices [in, out],
/// the output tied to `wte`), so the weights are copied as they are under `transformer.`; `lm_head` is tied
/// and not stored. Dropout rates are kept for fine-tuning (attention dropout is 0: lmtrain has none).
enum HuggingFaceGPT2 {
    static func write(_ model: GPT, config c: GPTConfig, tokenizer: BPETokenizer, to dir: String) throws {
        let w = ModelWeights(model: model), set = SafeTensorsWriter()
        for t in model.layout.tensors { set.add("transformer." + t.name, shape: t.shape, w.values(t.name)) }
        try writeAtomically(try set.serialize(metadata: ["format": "pt"]), to: dir + "/model.safetensors")
        // Training joins lines with <eos>, so <eos> is what precedes a text's first token: GPT-2's
        // <|endoftext|> convention (its bos and eos are the same token).
        let eos = Int(tokenizer.id(of: .eos)), pad = Int(tokenizer.id(of: .pad))
        let config: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": c.vocabSize, "n_positions": c.context, "n_embd": c.dModel, "n_layer": c.layers, "n_head": c.heads,
            "n_inner": 4 * c.dModel, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": Double(c.dropout), "embd_pdrop": Double(c.dropout), "attn_pdrop": 0.0,
            "initializer_range": 0.02, "scale_attn_weights": true, "tie_word_embeddings": true, "use_cache": true,
            "bos_token_id": eos, "eos_token_id": eos, "pad_token_id": pad, "dtype": "float32",
        ]
        try writeJSON(config, to: dir + "/config.json")
        try writeJSON(["bos_token_id": eos, "eos_token_id": eos, "pad_token_id": pad, "max_length": c.context], to: dir + "/generation_config.json")
        try HuggingFaceTokenizerFiles.write(tokenizer, to: dir, bos: .eos, appendEOS: false, maxLength: c.context)
    }
}
