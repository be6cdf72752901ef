/// A trained byte-fallback BPE tokenizer: ICU pre-tokenisation, merges applied by rank, a word cache.
///
/// `decode(encode(x)) == normalization.apply(x)` for every string x: characters outside the alphabet
/// (and a literal `▁`, which would read as a space) are spelled with byte tokens, and byte tokens are
/// never merged, so nothing ever becomes `<unk>`.
///
/// Not thread-safe (the pre-tokenizer and the cache are per instance): `copy()` one per thread.
public final class BPETokenizer {
    public let vocabulary: Vocabulary
    /// Merges in rank order: (left id, right id) -> result id.
    public let merges: [(Int32, Int32, Int32)]
    public let normalization: Normalization

    /// (left << 32 | right) -> (rank, result id).
    private let mergeRank: [UInt64: (rank: Int32, id: Int32)]
    private let charId: [Unicode.Scalar: Int32]
    private let asciiId: [Int32]   // [128], -1 where the character is not in the alphabet
    private let spaceId: Int32
    /// Decoded bytes of each piece: spaces for markers, the byte itself for byte tokens.
    private let pieceBytes: [[UInt8]]
    private let preTokenizer: PreTokenizer
    private var cache: [String: [Int32]] = [:]
    private static let cacheLimit = 1 << 18

    public var vocabularySize: Int { vocabulary.count }
    public func id(of special: SpecialToken) -> Int32 { vocabulary.id(of: special.rawValue)! }

    public init(vocabulary: Vocabulary, merges: [(Int32, Int32)], normalization: Normalization) throws {
        self.vocabulary = vocabulary
        self.normalization = normalization
        var ranks: [UInt64: (rank: Int32, id: Int32)] = [:]
        var triples: [(Int32, Int32, Int32)] = []
        for (r, (a, b)) in merges.enumerated() {
            let piece = vocabulary.pieces[Int(a)] + vocabulary.pieces[Int(b)]
            guard let id = vocabulary.id(of: piece) else {
                throw TokenizerError.corruptTokenizerFile("tokenizer", reason: "merge \(r) makes '\(piece)', which is not in the vocabulary")
            }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if ranks[key] == nil { ranks[key] = (Int32(r), id) }
            triples.append((a, b, id))
        }
        self.merges = triples
        mergeRank = ranks
        guard let space = vocabulary.id(of: String(spaceMarker)) else {
            throw TokenizerError.corruptTokenizerFile("tokenizer", reason: "the space marker ▁ is missing from the vocabulary")
        }
        spaceId = space
        var chars: [Unicode.Scalar: Int32] = [:]
        var ascii = [Int32](repeating: -1, count: 128)
        let firstChar = Int(vocabulary.byteBase) + 256
        for id in firstChar..<vocabulary.count {
            let scalars = vocabulary.pieces[id].unicodeScalars
            // Single-scalar pieces are the alphabet; the marker maps from U+0020, never from U+2581.
            if scalars.count == 1, let s = scalars.first, s != "\u{2581}", chars[s] == nil {
                chars[s] = Int32(id)
                if s.value < 128 { ascii[Int(s.value)] = Int32(id) }
            }
        }
        charId = chars
        asciiId = ascii
        pieceBytes = vocabulary.pieces.enumerated().map { (i, p) in
            if i >= Int(vocabulary.byteBase) && i < Int(vocabulary.byteBase) + 256 {
                return [UInt8(i - Int(vocabulary.byteBase))]
            }
            return Array(p.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
        }
        preTokenizer = try PreTokenizer(normalization: normalization)
    }

    /// A fresh instance sharing the model, for another thread.
    public func copy() throws -> BPETokenizer {
        try BPETokenizer(vocabulary: vocabulary, merges: merges.map { ($0.0, $0.1) }, normalization: normalization)
    }

    // MARK: - Encoding

    /// Token ids of one line of text (no `<bos>`/`<eos>` added).
    public func encode(_ text: String) throws -> [Int32] {
        var out: [Int32] = []
        try encode(text, into: &out)
        return out
    }

    /// Appends the ids of `text` to `out`.
    public func encode(_ text: String, into out: inout [Int32]) throws {
        try preTokenizer.forEachKey(in: text) { key in
            out.append(contentsOf: encodeKey(key))
        }
    }

    /// BPE-dropout (Provilkov et al. 2020): ids of `text` where, at every merge step, each applicable merge is
    /// left out with probability `dropout`, so one word gets many segmentations over training; the step applies
    /// the best merge that survived, and the word is done when none survives (as in subword-nmt's
    /// `--dropout`). Training data only: `dropout` 0 gives `encode(text)`. Bypasses the word cache.
    public func encode<G: RandomNumberGenerator>(_ text: String, dropout: Double, using rng: inout G) throws -> [Int32] {
        if dropout <= 0 { return try encode(text) }
        var out: [Int32] = []
        try preTokenizer.forEachKey(in: text) { key in
            var symbols = initialSymbols(key)
            applyMerges(&symbols, dropout: dropout, using: &rng)
            out.append(contentsOf: symbols)
        }
        return out
    }

    /// Pre-tokens (in display form, `▁` for spaces) and the ids of each, for cross-checks and debugging.
    public func encodeWithPreTokens(_ text: String) throws -> [(preToken: String, ids: [Int32])] {
        var out: [(String, [Int32])] = []
        try preTokenizer.forEachKey(in: text) { key in out.append((displayForm(ofKey: key), encodeKey(key))) }
        return out
    }

    /// Ids of one pre-token key (spaces are markers).
    func encodeKey(_ key: String) -> [Int32] {
        if let hit = cache[key] { return hit }
        var symbols = initialSymbols(key)
        applyMerges(&symbols)
        if cache.count >= BPETokenizer.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = symbols
        return symbols
    }

    /// Characters to alphabet ids, spelling the rest (and a literal `▁`) with byte tokens.
    func initialSymbols(_ key: String) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(key.utf8.count)
        for s in key.unicodeScalars {
            if s.value == 0x20 {
                symbols.append(spaceId)
            } else if s.value < 128, asciiId[Int(s.value)] >= 0 {
                symbols.append(asciiId[Int(s.value)])
            } else if let id = charId[s] {
                symbols.append(id)
            } else {
                for b in String(s).utf8 { symbols.append(vocabulary.byteBase + Int32(b)) }
            }
        }
        return symbols
    }

    /// Repeatedly merges the adjacent pair of lowest rank, leftmost first (as HF tokenizers does).
    /// Words are short, so a rescan per merge beats a heap.
    func applyMerges(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = Int32.max, bestPos = -1, bestId: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = mergeRank[key], m.rank < bestRank {
                    bestRank = m.rank; bestPos = i; bestId = m.id
                }
            }
            if bestPos < 0 { return }
            symbols[bestPos] = bestId
            symbols.remove(at: bestPos + 1)
        }
    }

    /// `applyMerges` with each candidate merge dropped with probability `dropout` at every step.
    func applyMerges<G: RandomNumberGenerator>(_ symbols: inout [Int32], dropout: Double, using rng: inout G) {
        while symbols.count > 1 {
            var bestRank = Int32.max, bestPos = -1, bestId: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = mergeRank[key], m.rank < bestRank, Double.random(in: 0..<1, using: &rng) >= dropout {
                    bestRank = m.rank; bestPos = i; bestId = m.id
                }
            }
            if bestPos < 0 { return }
            symbols[bestPos] = bestId
            symbols.remove(at: bestPos + 1)
        }
    }

    // MARK: - Decoding

    /// Text of `ids`. Special tokens are skipped unless `keepSpecial`. Byte tokens are joined into
    /// UTF-8; an invalid sequence (possible only in ids not made by `encode`) decodes to U+FFFD.
    public func decode(_ ids: [Int32], keepSpecial: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0 && Int(id) < vocabulary.count else {
                throw TokenizerError.unknownId(Int(id), vocabularySize: vocabulary.count)
            }
            if vocabulary.isSpecial(id) {
                if keepSpecial { bytes.append(contentsOf: vocabulary.pieces[Int(id)].utf8) }
                continue
            }
            bytes.append(contentsOf: pieceBytes[Int(id)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The piece strings of `ids` (as in the vocabulary file).
    public func pieces(_ ids: [Int32]) -> [String] { ids.map { vocabulary.pieces[Int($0)] } }
}
