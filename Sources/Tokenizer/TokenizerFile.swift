import FileIO
import Foundation

/// The lmtrain tokenizer file: versioned JSON, one vocabulary piece and one merge per line so a person
/// can read it (`vocab[i]` is the piece of id i; merges are in rank order, as piece pairs).
public enum TokenizerFile {
    public static let format = "lmtrain-tokenizer"
    public static let version = 1

    public static func serialize(_ t: BPETokenizer) -> String {
        var s = "{\n"
        s += "  \"format\": \(jsonQuoted(format)),\n"
        s += "  \"version\": \(version),\n"
        s += "  \"model\": \"bpe-byte-fallback\",\n"
        s += "  \"normalization\": \(jsonQuoted(t.normalization.rawValue)),\n"
        s += "  \"pre_tokenizer\": \"icu-word-break\",\n"
        s += "  \"space_marker\": \(jsonQuoted(String(spaceMarker))),\n"
        s += "  \"special_tokens\": \(t.vocabulary.specialCount),\n"
        s += "  \"vocab_size\": \(t.vocabulary.count),\n"
        s += "  \"vocab\": [\n"
        s += t.vocabulary.pieces.map { "    " + jsonQuoted($0) }.joined(separator: ",\n")
        s += "\n  ],\n  \"merges\": [\n"
        s += t.merges.map { m in
            "    [" + jsonQuoted(t.vocabulary.pieces[Int(m.0)]) + ", " + jsonQuoted(t.vocabulary.pieces[Int(m.1)]) + "]"
        }.joined(separator: ",\n")
        s += "\n  ]\n}\n"
        return s
    }

    /// Writes atomically: a temporary file beside the target, then a rename.
    public static func save(_ t: BPETokenizer, to path: String) throws {
        try writeAtomically(Data(serialize(t).utf8), to: path)
    }

    public static func load(_ path: String) throws -> BPETokenizer {
        let bytes = try TextFile.bytes(path)
        return try parse(Data(bytes), path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> BPETokenizer {
        func corrupt(_ why: String) -> TokenizerError { .corruptTokenizerFile(path, reason: why) }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let root = obj as? [String: Any] else {
            throw corrupt("it is not JSON")
        }
        guard root["format"] as? String == format else { throw corrupt("its \"format\" is not \"\(format)\"") }
        guard let v = root["version"] as? Int else { throw corrupt("it has no \"version\"") }
        guard v == version else { throw TokenizerError.unsupportedVersion(path, found: v, supported: version) }
        guard let normName = root["normalization"] as? String, let norm = Normalization(rawValue: normName) else {
            throw corrupt("\"normalization\" must be one of none, nfc, nfkc")
        }
        guard let pieces = root["vocab"] as? [String], let nSpecial = root["special_tokens"] as? Int,
              nSpecial >= SpecialToken.allCases.count, pieces.count >= nSpecial + 257 else {
            throw corrupt("\"vocab\" or \"special_tokens\" is missing or too short")
        }
        for (i, s) in SpecialToken.allCases.enumerated() where pieces[i] != s.rawValue {
            throw corrupt("id \(i) must be \(s.rawValue)")
        }
        for b in 0..<256 where pieces[nSpecial + b] != Vocabulary.byteToken(UInt8(b)) {
            throw corrupt("id \(nSpecial + b) must be the byte token \(Vocabulary.byteToken(UInt8(b)))")
        }
        if let declared = root["vocab_size"] as? Int, declared != pieces.count {
            throw corrupt("\"vocab_size\" says \(declared) but \"vocab\" holds \(pieces.count) pieces (the file is truncated or edited)")
        }
        guard Set(pieces).count == pieces.count else { throw corrupt("\"vocab\" holds a piece twice") }
        let vocab = Vocabulary(pieces: pieces, specialCount: nSpecial)
        guard let mergeList = root["merges"] as? [[String]] else { throw corrupt("\"merges\" is missing") }
        var merges: [(Int32, Int32)] = []
        merges.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            guard m.count == 2, let a = vocab.id(of: m[0]), let b = vocab.id(of: m[1]) else {
                throw corrupt("merge \(i) names a piece that is not in the vocabulary")
            }
            merges.append((a, b))
        }
        do {
            return try BPETokenizer(vocabulary: vocab, merges: merges, normalization: norm)
        } catch TokenizerError.corruptTokenizerFile(_, let reason) {
            throw corrupt(reason)
        }
    }
}
