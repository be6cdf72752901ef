import FileIO
import Foundation

/// Export to Hugging Face `tokenizers`: `tokenizer.json` (BPE model with byte fallback, merges as pairs),
/// plus `vocab.json` and `merges.txt`.
///
/// HF has no ICU word-break pre-tokenizer, so the exported file uses Metaspace (split on spaces, `▁`
/// marker): it agrees with lmtrain on whitespace but not on punctuation or CJK. The BPE model itself is
/// identical: given lmtrain's pre-tokens, HF produces the same ids (scripts/hf-crosscheck checks this).
/// Normalisation: NFKC/NFC map to HF's normalizers of the same name.
public enum HuggingFaceExport {
    /// `appendEOS`: the file's post-processor ends every encoding with `<eos>`, as lmtrain ends a translation
    /// model's source (so `tokenizer(text)` gives exactly the encoder's input ids).
    public static func write(_ t: BPETokenizer, to directory: String, appendEOS: Bool = false) throws {
        let v = t.vocabulary
        let eos = jsonQuoted(SpecialToken.eos.rawValue), eosID = t.id(of: .eos)
        func piece(_ seq: String, _ type: Int) -> String { "{\"Sequence\": {\"id\": \"\(seq)\", \"type_id\": \(type)}}" }
        func special(_ type: Int) -> String { "{\"SpecialToken\": {\"id\": \(eos), \"type_id\": \(type)}}" }
        let postProcessor = !appendEOS ? "null" : "{\"type\": \"TemplateProcessing\", "
            + "\"single\": [\(piece("A", 0)), \(special(0))], "
            + "\"pair\": [\(piece("A", 0)), \(special(0)), \(piece("B", 1)), \(special(1))], "
            + "\"special_tokens\": {\(eos): {\"id\": \(eos), \"ids\": [\(eosID)], \"tokens\": [\(eos)]}}}"
        var added: [String] = []
        for i in 0..<v.specialCount {
            added.append("""
                {"id": \(i), "content": \(jsonQuoted(v.pieces[i])), "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
            """)
        }
        let normalizer: String
        switch t.normalization {
        case .none: normalizer = "null"
        case .nfc: normalizer = "{\"type\": \"NFC\"}"
        case .nfkc: normalizer = "{\"type\": \"NFKC\"}"
        }
        let vocabEntries = v.pieces.enumerated().map { "      \(jsonQuoted($1)): \($0)" }.joined(separator: ",\n")
        let mergeEntries = t.merges.map { "      [\(jsonQuoted(v.pieces[Int($0.0)])), \(jsonQuoted(v.pieces[Int($0.1)]))]" }
            .joined(separator: ",\n")
        let json = """
        {
          "version": "1.0",
          "truncation": null,
          "padding": null,
          "added_tokens": [
        \(added.joined(separator: ",\n"))
          ],
          "normalizer": \(normalizer),
          "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true},
          "post_processor": \(postProcessor),
          "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}
          ]},
          "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": "<unk>",
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": true,
            "ignore_merges": false,
            "vocab": {
        \(vocabEntries)
            },
            "merges": [
        \(mergeEntries)
            ]
          }
        }

        """
        let dir = URL(fileURLWithPath: directory)
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw FileError.unwritable(directory, reason: "cannot create the directory")
        }
        try writeAtomically(Data(json.utf8), to: dir.appendingPathComponent("tokenizer.json").path)
        let vocabJSON = "{\n" + v.pieces.enumerated().map { "  \(jsonQuoted($1)): \($0)" }.joined(separator: ",\n") + "\n}\n"
        try writeAtomically(Data(vocabJSON.utf8), to: dir.appendingPathComponent("vocab.json").path)
        // merges.txt separates a pair with a space; pieces never hold a U+0020 (spaces are ▁).
        let mergesTxt = "#version: 0.2\n" + t.merges.map { "\(v.pieces[Int($0.0)]) \(v.pieces[Int($0.1)])" }.joined(separator: "\n") + "\n"
        try writeAtomically(Data(mergesTxt.utf8), to: dir.appendingPathComponent("merges.txt").path)
    }
}
