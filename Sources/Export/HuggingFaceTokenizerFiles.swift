import Foundation
import Tokenizer

/// The tokenizer files `AutoTokenizer.from_pretrained` reads: tokenizer.json (lmtrain's BPE model for HF
/// `tokenizers`, see `HuggingFaceExport`), tokenizer_config.json naming `PreTrainedTokenizerFast` (so the
/// model type's own slow tokenizer is never looked for) and the special tokens.
enum HuggingFaceTokenizerFiles {
    /// `bos`: the token that begins a text for this model. `appendEOS`: encodings end with `<eos>` (a
    /// translation model's source).
    static func write(_ t: BPETokenizer, to directory: String, bos: SpecialToken, appendEOS: Bool, maxLength: Int) throws {
        try HuggingFaceExport.write(t, to: directory, appendEOS: appendEOS)
        let special: [String: Any] = ["bos_token": bos.rawValue, "eos_token": SpecialToken.eos.rawValue,
                                      "unk_token": SpecialToken.unk.rawValue, "pad_token": SpecialToken.pad.rawValue]
        var config = special
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config["model_max_length"] = maxLength
        config["clean_up_tokenization_spaces"] = false
        try writeJSON(config, to: directory + "/tokenizer_config.json")
        try writeJSON(special, to: directory + "/special_tokens_map.json")
    }
}
