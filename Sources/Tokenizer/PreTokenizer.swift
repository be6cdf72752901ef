import CICU

/// Splits normalised text into pre-tokens with ICU's Unicode word-break iterator, so words, numbers,
/// punctuation, CJK (dictionary segmentation) and emoji sequences split the way UAX #29 says.
///
/// Whitespace is kept so decoding is lossless: a run of n spaces before a segment becomes n-1 lone
/// space pre-tokens' worth of markers plus a marker on the segment (`▁word`), like SentencePiece.
///
/// A pre-token is handed out as a *key*: its text with each marker written as a plain U+0020 space.
/// A non-space segment never contains U+0020, so the key is unambiguous, and a literal `▁` (U+2581)
/// in the input stays distinguishable from the marker (it is encoded as bytes; see `BPETokenizer`).
///
/// Not thread-safe (ICU break iterators are not): use one per thread.
public final class PreTokenizer {
    public let normalization: Normalization
    private let segmenter: OpaquePointer
    private var bounds: [Int32] = Array(repeating: 0, count: 1024)

    public init(normalization: Normalization) throws {
        self.normalization = normalization
        var err: Int32 = 0
        guard let s = lmt_segmenter_open(&err) else {
            throw TokenizerError.icu("opening the word-break iterator returned \(String(cString: lmt_error_name(err)))")
        }
        segmenter = s
    }

    deinit { lmt_segmenter_close(segmenter) }

    /// Calls `body` with the key of each pre-token of `line`, in order.
    public func forEachKey(in line: String, _ body: (String) throws -> Void) throws {
        var line = line
        try line.withUTF8 { raw in
            try normalization.withNormalized(raw) { text in
                try forEachKey(normalized: text, body)
            }
        }
    }

    /// The pre-token keys of `line`.
    public func keys(of line: String) throws -> [String] {
        var out: [String] = []
        try forEachKey(in: line) { out.append($0) }
        return out
    }

    private func segment(_ text: UnsafeBufferPointer<UInt8>) throws -> Int {
        while true {
            let n = text.withMemoryRebound(to: CChar.self) { src in
                bounds.withUnsafeMutableBufferPointer { b in
                    lmt_segment_utf8(segmenter, src.baseAddress, Int32(src.count), b.baseAddress, Int32(b.count))
                }
            }
            if n < 0 { throw TokenizerError.icu("word breaking returned \(String(cString: lmt_error_name(-n)))") }
            if Int(n) <= bounds.count { return Int(n) }
            bounds = Array(repeating: 0, count: Int(n) * 2)
        }
    }

    private func forEachKey(normalized text: UnsafeBufferPointer<UInt8>, _ body: (String) throws -> Void) throws {
        if text.isEmpty { return }
        let n = try segment(text)
        var pendingSpaces = 0
        var scratch: [UInt8] = []
        for i in 0..<(n - 1) {
            let lo = Int(bounds[i]), hi = Int(bounds[i + 1])
            let seg = UnsafeBufferPointer(rebasing: text[lo..<hi])
            if seg.allSatisfy({ $0 == 0x20 }) {
                pendingSpaces += seg.count
                continue
            }
            if pendingSpaces == 0 {
                try body(String(decoding: seg, as: UTF8.self))
            } else {
                // All but the last space stand alone; the last one marks this segment.
                if pendingSpaces > 1 {
                    try body(String(repeating: " ", count: pendingSpaces - 1))
                }
                scratch.removeAll(keepingCapacity: true)
                scratch.append(0x20)
                scratch.append(contentsOf: seg)
                try body(String(decoding: scratch, as: UTF8.self))
                pendingSpaces = 0
            }
        }
        if pendingSpaces > 0 { try body(String(repeating: " ", count: pendingSpaces)) }
    }
}

/// The marker that stands for a space in vocabulary pieces (SentencePiece's U+2581).
public let spaceMarker: Character = "\u{2581}"

/// A pre-token key written the way vocabulary pieces are: spaces as `▁`.
public func displayForm(ofKey key: String) -> String {
    String(key.map { $0 == " " ? spaceMarker : $0 })
}
