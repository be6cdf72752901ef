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
        let workers = max(1, min(threads, lines.count / 2000 + 1))
        let ids = try encode(lines, with: try (0..<workers).map { _ in try tokenizer.copy() }, eos: tokenizer.id(of: .eos))
        let (words, bytes) = counts(lines)
        return TokenStream(ids: ids, words: words, bytes: bytes, lines: lines.count)
    }

    /// Each line's ids then `<eos>`, in order, the lines cut into one contiguous share per tokenizer copy.
    static func encode(_ lines: [String], with toks: [BPETokenizer], eos: Int32) throws -> [Int32] {
        let parts = try encodeParts(lines, with: toks, eos: eos)
        return parts.count == 1 ? parts[0] : parts.flatMap { $0 }
    }

    /// The ids of `encode(_:with:eos:)` as one piece per tokenizer copy, in order (a cache writes them one after
    /// another rather than holding a joined copy too).
    static func encodeParts(_ lines: [String], with toks: [BPETokenizer], eos: Int32) throws -> [[Int32]] {
        let workers = max(1, min(toks.count, lines.count / 2000 + 1))
        var parts = [[Int32]](repeating: [], count: workers)
        var failure: Error? = nil
        let lock = NSLock()
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
        return parts
    }

    /// Words (split at spaces and tabs) and UTF-8 bytes (a newline each) of lines.
    static func counts(_ lines: [String]) -> (words: Int, bytes: Int) {
        var words = 0, bytes = 0
        for l in lines {
            bytes += l.utf8.count + 1
            words += l.split(whereSeparator: { $0 == " " || $0 == "\t" }).count
        }
        return (words, bytes)
    }

    /// Reads a text corpus (UTF-8, one document per line; a .tsv file's text columns joined by a space),
    /// encodes it, and caches the ids in `cacheDir` keyed by the file's content and the tokenizer.
    public static func load(file: String, tokenizer: BPETokenizer, tokenizerKey: String, threads: Int,
                            cacheDir: String?) throws -> TokenStream {
        guard let cacheDir else {
            try TextFile.checkReadable(file)
            return try encode(lines: try Documents.lines(of: file), tokenizer: tokenizer, threads: threads)
        }
        let m = try cached(file: file, tokenizer: tokenizer, tokenizerKey: tokenizerKey, threads: threads, cacheDir: cacheDir)
        return TokenStream(ids: m.ids.array, words: m.words, bytes: m.bytes, lines: m.lines)
    }

    /// A corpus file's ids, read from its cache in `cacheDir` (keyed by the file's content and the tokenizer)
    /// as they are needed. A missing or stale cache is built first by streaming the file through the tokenizer in blocks
    /// (each block encoded on `threads` threads), so neither the text nor the ids are ever all in memory.
    /// `progress(bytesRead, fileBytes)` follows the build; `blockBytes` is the text read per block. `lines`: only
    /// those lines (0-based) of the file, e.g. the training part of a corpus whose last lines are held out.
    public static func cached(file: String, tokenizer: BPETokenizer, tokenizerKey: String, threads: Int, cacheDir: String,
                              lines range: Range<Int>? = nil, blockBytes: Int = 8 << 20,
                              progress: ((Int, Int) -> Void)? = nil) throws -> CachedTokenStream {
        try TextFile.checkReadable(file)
        let content = try contentHash(ofFile: file)
        let part = range.map { "-lines\($0.lowerBound)-\($0.upperBound)" } ?? ""
        let key = "\(URL(fileURLWithPath: file).lastPathComponent)-\(String(content, radix: 16))\(part)-\(tokenizerKey)"
        let path = cacheDir + "/" + sanitize(key) + ".ids"
        if let m = try? CachedTokenStream(cache: path) { return m }
        try buildCache(file: file, tokenizer: tokenizer, threads: threads, to: path, lines: range, blockBytes: blockBytes,
                       progress: progress)
        return try CachedTokenStream(cache: path)
    }

    /// Cache format: "LMTIDS1\n", then Int64 count, words, bytes, lines, then count Int32 ids (little-endian).
    static let magic = Data("LMTIDS1\n".utf8)
    static let headerBytes = 40

    static func buildCache(file: String, tokenizer: BPETokenizer, threads: Int, to path: String, lines range: Range<Int>?,
                           blockBytes: Int, progress: ((Int, Int) -> Void)?) throws {
        let total = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let toks = try (0..<max(1, threads)).map { _ in try tokenizer.copy() }
        let eos = tokenizer.id(of: .eos), tsv = TextFile.isTSV(file)
        let out = try AtomicFileWriter(path: path)
        try [UInt8](repeating: 0, count: headerBytes).withUnsafeBytes { try out.write($0) }
        var count = 0, words = 0, bytes = 0, lines = 0
        progress?(0, total)   // before the first block, so a progress bar's clock starts with the work
        var index = 0   // of the block's first line in the file
        try TextFile.forEachLineBlock(file, blockBytes: blockBytes) { whole, read in
            defer { index += whole.count }
            var block = whole
            if let range {
                let lo = max(range.lowerBound - index, 0), hi = min(range.upperBound - index, whole.count)
                block = lo < hi ? Array(whole[lo..<hi]) : []
            }
            let docs = tsv ? block.map { TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") } : block
            for ids in try encodeParts(docs, with: toks, eos: eos) {
                try ids.withUnsafeBytes { try out.write($0) }
                count += ids.count
            }
            let c = counts(docs)
            words += c.words; bytes += c.bytes; lines += docs.count
            progress?(read, total)
        }
        var header = magic
        for v in [count, words, bytes, lines] { withUnsafeBytes(of: Int64(v).littleEndian) { header.append(contentsOf: $0) } }
        try header.withUnsafeBytes { try out.write($0, at: 0) }
        try out.finish()
    }

    static func sanitize(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
    }
}

/// A corpus's ids in its id cache file, with the text's counts (for per-word perplexity and bits per byte).
public struct CachedTokenStream {
    public let ids: TokenIDs
    public let words: Int, bytes: Int, lines: Int

    /// Opens a cache file, refusing one whose header or size is wrong (a damaged cache is rebuilt, never read).
    init(cache path: String) throws {
        guard let fh = FileHandle(forReadingAtPath: path) else { throw FileError.fileNotFound(path) }
        defer { try? fh.close() }
        let head = fh.readData(ofLength: TokenStream.headerBytes)
        guard head.count == TokenStream.headerBytes, head.prefix(8) == TokenStream.magic else { throw FileError.unreadable(path, reason: "not an id cache") }
        let h = head.withUnsafeBytes { raw in (0..<4).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 + 8 * $0, as: Int64.self))) } }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        guard h.allSatisfy({ $0 >= 0 }), h[0] <= (Int.max - TokenStream.headerBytes) / 4, size == TokenStream.headerBytes + 4 * h[0] else {
            throw FileError.unreadable(path, reason: "a damaged id cache")
        }
        ids = try TokenIDs(file: path, offset: TokenStream.headerBytes, count: h[0])
        words = h[1]; bytes = h[2]; lines = h[3]
    }
}
