import CICU

/// Unicode normalisation applied before pre-tokenisation. Decoding reproduces the normalised text.
public enum Normalization: String, Sendable, CaseIterable, Codable {
    case none, nfc, nfkc

    var icuForm: lmt_norm_form {
        switch self {
        case .none: return LMT_NORM_NONE
        case .nfc: return LMT_NORM_NFC
        case .nfkc: return LMT_NORM_NFKC
        }
    }

    /// Normalises UTF-8 bytes and hands the result to `body` without building a String.
    func withNormalized<R>(_ text: UnsafeBufferPointer<UInt8>,
                           _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        var out: UnsafeMutablePointer<CChar>? = nil
        var outLen: Int32 = 0
        let rc = text.withMemoryRebound(to: CChar.self) { src in
            lmt_normalize_utf8(icuForm, src.baseAddress, Int32(src.count), &out, &outLen)
        }
        guard rc == 0, let out else {
            throw TokenizerError.icu("normalisation returned \(String(cString: lmt_error_name(rc)))")
        }
        defer { lmt_free(out) }
        return try out.withMemoryRebound(to: UInt8.self, capacity: Int(outLen)) {
            try body(UnsafeBufferPointer(start: $0, count: Int(outLen)))
        }
    }

    /// The normalised form of `text`: what `decode(encode(text))` returns.
    public func apply(_ text: String) throws -> String {
        var text = text
        return try text.withUTF8 { bytes in
            try withNormalized(bytes) { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// The version of the ICU library linked in, e.g. "72.1".
public var icuVersion: String { String(cString: lmt_icu_version()) }
