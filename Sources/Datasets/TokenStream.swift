import Foundation
import FileIO
import Tokenizer

/// A corpus as one stream of token ids: each line's ids followed by `<eos>` (documents are lines).
public struct TokenStream {
    public var ids: [Int32]
    /// Words (whitespace-separated) and UTF-8 bytes of the text, for per-word perplexity and bits per byte.
    public var words: Int
    public var bytes: Int
    public var lines: Int

    public init(ids: [Int32], words: Int, bytes: Int, lines: Int) {
        self.ids = ids; self.words = words; self.bytes = bytes; self.lines = lines
    }

    /// Encodes lines on `threads` threads (one tokenizer copy each), in order.
    public static func encode(lines: [String], tokenizer: BPETokenizer, threads: Int) throws -> TokenStream {
        let eos = tokenizer.id(of: .eos)
        let workers = max(1, min(threads, lines.count / 2000 + 1))
        var parts = [[Int32]](repeating: [], count: workers)
        var failure: Error? = nil
        let lock = NSLock()
        let toks = try (0..<workers).map { _ in try tokenizer.copy() }
        parts.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = lines.count * w / workers, hi = lines.count * (w + 1) / workers
                var ids: [Int32] = []
                ids.reserveCapacity((hi - lo) * 40)
                do {
                    for i in lo..<hi {
                        try toks[w].encode(lines[i], into: &ids)
                        ids.append(eos)
                    }
                } catch { lock.withLock { failure = error } }
                out[w] = ids
            }
        }
        if let failure { throw failure }
        var words = 0, bytes = 0
        for l in lines {
            bytes += l.utf8.count + 1
            words += l.split(whereSeparator: { $0 == " " || $0 == "\t" }).count
        }
        return TokenStream(ids: parts.flatMap { $0 }, words: words, bytes: bytes, lines: lines.count)
    }

    /// Reads a text corpus (UTF-8, one document per line; a .tsv file's text columns joined by a space),
    /// encodes it, and caches the ids in `cacheDir` keyed by the file's content and the tokenizer.
    public static func load(file: String, tokenizer: BPETokenizer, tokenizerKey: String, threads: Int,
                            cacheDir: String?) throws -> TokenStream {
        try TextFile.checkReadable(file)
        let content = cacheDir == nil ? 0 : try contentHash(ofFile: file)
        let key = "\(URL(fileURLWithPath: file).lastPathComponent)-\(String(content, radix: 16))-\(tokenizerKey)"
        let cachePath = cacheDir.map { $0 + "/" + sanitize(key) + ".ids" }
        if let cachePath, let cached = readCache(cachePath) { return cached }
        let lines = try Documents.lines(of: file)
        let stream = try encode(lines: lines, tokenizer: tokenizer, threads: threads)
        if let cachePath { writeCache(stream, to: cachePath) }
        return stream
    }

    static func sanitize(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
    }

    // Cache format: "LMTIDS1\n", then Int64 count, words, bytes, lines, then count Int32 ids (little-endian).
    static func writeCache(_ s: TokenStream, to path: String) {
        var d = Data("LMTIDS1\n".utf8)
        for v in [s.ids.count, s.words, s.bytes, s.lines] { withUnsafeBytes(of: Int64(v).littleEndian) { d.append(contentsOf: $0) } }
        s.ids.withUnsafeBytes { d.append(contentsOf: $0) }
        try? writeAtomically(d, to: path)   // a cache: failing to write it only costs time next run
    }

    static func readCache(_ path: String) -> TokenStream? {
        guard let d = FileManager.default.contents(atPath: path), d.count >= 40, d.prefix(8) == Data("LMTIDS1\n".utf8) else { return nil }
        let h = d.withUnsafeBytes { raw in (0..<4).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 + 8 * $0, as: Int64.self))) } }
        guard h[0] >= 0, d.count == 40 + 4 * h[0] else { return nil }
        let ids = d.withUnsafeBytes { raw in Array(UnsafeBufferPointer(start: (raw.baseAddress! + 40).assumingMemoryBound(to: Int32.self), count: h[0])) }
        return TokenStream(ids: ids, words: h[1], bytes: h[2], lines: h[3])
    }
}
