/// The four special tokens every lmtrain vocabulary starts with, in this order (ids 0...3).
public enum SpecialToken: String, CaseIterable, Sendable {
    case pad = "<pad>", unk = "<unk>", bos = "<bos>", eos = "<eos>"
}

/// Id layout: special tokens (the four above, then user-given ones), 256 byte tokens `<0x00>`…`<0xFF>`,
/// the space marker `▁`, the alphabet of single characters, then one piece per merge.
public struct Vocabulary: Sendable, Equatable {
    public private(set) var pieces: [String]
    public let specialCount: Int
    private(set) var index: [String: Int32]

    /// Id of the first byte token.
    public var byteBase: Int32 { Int32(specialCount) }
    public var count: Int { pieces.count }

    public init(specialTokens extra: [String]) {
        let specials = SpecialToken.allCases.map(\.rawValue) + extra.filter { !SpecialToken.allCases.map(\.rawValue).contains($0) }
        pieces = specials
        specialCount = specials.count
        index = [:]
        for (i, s) in specials.enumerated() { index[s] = Int32(i) }
        for b in 0..<256 { _ = add(Vocabulary.byteToken(UInt8(b))) }
    }

    /// Rebuilds a vocabulary from its pieces in id order (as stored in a tokenizer file).
    init(pieces: [String], specialCount: Int) {
        self.pieces = pieces
        self.specialCount = specialCount
        index = Dictionary(pieces.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
    }

    public static func byteToken(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    /// Id of a piece, adding it if new.
    @discardableResult
    mutating func add(_ piece: String) -> Int32 {
        if let id = index[piece] { return id }
        let id = Int32(pieces.count)
        pieces.append(piece)
        index[piece] = id
        return id
    }

    public func id(of piece: String) -> Int32? { index[piece] }

    public func isSpecial(_ id: Int32) -> Bool { id >= 0 && Int(id) < specialCount }
    public func isByte(_ id: Int32) -> Bool { id >= byteBase && id < byteBase + 256 }

    public static func == (a: Vocabulary, b: Vocabulary) -> Bool {
        a.pieces == b.pieces && a.specialCount == b.specialCount
    }
}
