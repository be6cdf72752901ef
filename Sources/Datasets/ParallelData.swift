import Foundation
import Kernels
import FileIO
import Tokenizer

/// Sentence pairs as text: from a TSV file (`src<TAB>tgt`, or `ref<TAB>src<TAB>tgt` as in corpora/bible, or
/// any columns chosen with `columns`) or from two line-aligned files. Problems are errors naming the file
/// and line; pairs with an empty side are skipped and counted (never silently).
public struct ParallelText: Sendable {
    public var sources: [String] = []
    public var targets: [String] = []
    public var skippedEmpty = 0

    public init() {}

    /// The source and target columns (1-based) used when none are given: columns 1, 2 of a two-column
    /// file; 2, 3 of a three-column one (the first is a reference such as "Gen.1.1").
    public static func defaultColumns(count: Int) -> (Int, Int)? {
        switch count {
        case 2: return (1, 2)
        case 3: return (2, 3)
        default: return nil
        }
    }

    /// Columns in the first non-empty line of a TSV file (for inferring the task).
    public static func columnCount(tsv path: String) throws -> Int {
        guard let line = try TextFile.firstNonEmptyLine(path) else { return 0 }
        return line.split(separator: "\t", omittingEmptySubsequences: false).count
    }

    /// Streamed in blocks of lines, so the file's bytes and its lines are never all in memory beside the pairs.
    public static func load(tsv path: String, columns: (Int, Int)? = nil) throws -> ParallelText {
        var text = ParallelText()
        var expected: Int? = nil
        var cols = columns
        var i = -1
        try TextFile.forEachLineBlock(path) { block, _ in for line in block {
            i += 1
            if line.isEmpty { text.skippedEmpty += 1; continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            if let e = expected, fields.count != e {
                throw DataError("\(path):\(i + 1) has \(fields.count) tab-separated columns but the file's first line has \(e): fix that line (a stray or missing tab)")
            }
            if expected == nil {
                expected = fields.count
                if cols == nil {
                    guard let d = defaultColumns(count: fields.count) else {
                        throw DataError("\(path) has \(fields.count) tab-separated columns: choose the source and target ones with --columns SRC,TGT")
                    }
                    cols = d
                }
                let (s, t) = cols!
                guard s >= 1, t >= 1, s <= fields.count, t <= fields.count, s != t else {
                    throw DataError("--columns \(s),\(t) do not name two different columns of \(path), which has \(fields.count)")
                }
            }
            let (s, t) = cols!
            let src = fields[s - 1].trimmingCharacters(in: .whitespaces), tgt = fields[t - 1].trimmingCharacters(in: .whitespaces)
            if src.isEmpty || tgt.isEmpty { text.skippedEmpty += 1; continue }
            text.sources.append(src)
            text.targets.append(tgt)
        } }
        return text
    }

    public static func load(source: String, target: String) throws -> ParallelText {
        let s = try TextFile.lines(source), t = try TextFile.lines(target)
        guard s.count == t.count else {
            throw DataError("\(source) has \(s.count) lines but \(target) has \(t.count): parallel files must be aligned line by line")
        }
        var text = ParallelText()
        for i in 0..<s.count {
            let a = s[i].trimmingCharacters(in: .whitespaces), b = t[i].trimmingCharacters(in: .whitespaces)
            if a.isEmpty || b.isEmpty { text.skippedEmpty += 1; continue }
            text.sources.append(a)
            text.targets.append(b)
        }
        return text
    }
}

/// Sentence pairs as token ids: each source ends in EOS (the encoder sees where it ends); targets are bare
/// (the batcher adds the start token in front of the decoder input and EOS after the targets). Pairs that do
/// not fit the model's maximum length are skipped and counted.
public struct ParallelData: Sendable {
    /// Each kept pair's source ids, EOS last.
    public var sources = TokenSequences()
    /// Each kept pair's target ids (no start token, no EOS).
    public var targets = TokenSequences()
    /// The target text of each kept pair (validation BLEU references).
    public var targetText: [String] = []
    /// The index in the `ParallelText` of each kept pair (over-long ones leave gaps).
    public var origins: [Int] = []
    public var skippedEmpty = 0
    public var skippedLong = 0
    public var count: Int { sources.count }
    /// Target tokens with each pair's EOS.
    public var targetTokens: Int { targets.ids.count + targets.count }

    public init() {}

    /// - dropout: BPE-dropout probability (training data only; 0: the deterministic segmentation). Line i of
    ///   each side draws from its own stream seeded by (`seed`, side, i), so the result is the same on any
    ///   number of threads and a resumed run re-segments an epoch exactly as before.
    public static func encode(_ text: ParallelText, tokenizer: BPETokenizer, maxLength: Int, threads: Int,
                              dropout: Double = 0, seed: UInt64 = 0) throws -> ParallelData {
        let eos = tokenizer.id(of: .eos)
        let src = try encodeLines(text.sources, tokenizer: tokenizer, threads: threads, dropout: dropout, seed: seed)
        let tgt = try encodeLines(text.targets, tokenizer: tokenizer, threads: threads, dropout: dropout,
                                  seed: SplitMix64.mix(seed ^ 0x7461_7267_6574))   // "target"
        var d = ParallelData()
        d.skippedEmpty = text.skippedEmpty
        d.sources.reserve(sequences: src.count, tokens: src.ids.count + src.count)
        d.targets.reserve(sequences: tgt.count, tokens: tgt.ids.count)
        for i in 0..<src.count {
            if src.length(i) + 1 > maxLength || tgt.length(i) + 1 > maxLength { d.skippedLong += 1; continue }
            d.sources.append(src[i], then: eos)
            d.targets.append(tgt[i])
            d.targetText.append(text.targets[i])
            d.origins.append(i)
        }
        return d
    }

    /// Encodes lines on `threads` threads (one tokenizer copy each), in order: each thread fills the flat
    /// sequences of its contiguous share, then the shares are joined.
    static func encodeLines(_ lines: [String], tokenizer: BPETokenizer, threads: Int, dropout: Double = 0,
                            seed: UInt64 = 0) throws -> TokenSequences {
        let workers = max(1, min(threads, lines.count / 1000 + 1))
        var parts = [TokenSequences](repeating: TokenSequences(), count: workers)
        var failure: Error? = nil
        let lock = NSLock()
        let toks = try (0..<workers).map { _ in try tokenizer.copy() }
        parts.withUnsafeMutableBufferPointer { o in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = lines.count * w / workers, hi = lines.count * (w + 1) / workers
                var part = TokenSequences()
                var ids: [Int32] = []
                do {
                    for i in lo..<hi {
                        ids.removeAll(keepingCapacity: true)
                        if dropout > 0 {
                            var rng = SplitMix64(seed: SplitMix64.mix(seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
                            ids = try toks[w].encode(lines[i], dropout: dropout, using: &rng)
                        } else {
                            try toks[w].encode(lines[i], into: &ids)
                        }
                        part.append(ids)
                    }
                } catch { lock.withLock { failure = error } }
                o[w] = part
            }
        }
        if let failure { throw failure }
        if workers == 1 { return parts[0] }
        var out = TokenSequences()
        out.reserve(sequences: lines.count, tokens: parts.reduce(0) { $0 + $1.ids.count })
        for w in parts.indices {
            for i in parts[w].indices { out.append(parts[w][i]) }
            parts[w] = TokenSequences()   // each share goes once it is copied
        }
        return out
    }
}

/// Batches of pairs with similar lengths under a token budget (fairseq's `--max-tokens`): pairs sorted by
/// source then target length are cut into batches whose padded size, sentences × the longer padded side,
/// stays within the budget. The batches are fixed; each epoch visits them in a fresh seeded order.
public struct LengthBuckets: Sendable {
    /// The pairs in length order, batch after batch: [pairs]
    let pairs: [Int32]
    /// Where each batch starts in `pairs`, then the end: [batches + 1]
    let starts: [Int]

    /// The batches, each a slice of pair indices: two flat arrays, not an array per batch.
    public var batches: Batches { Batches(pairs: pairs, starts: starts) }

    public struct Batches: RandomAccessCollection, Sendable {
        let pairs: [Int32], starts: [Int]
        public var startIndex: Int { 0 }
        public var endIndex: Int { starts.count - 1 }
        public subscript(i: Int) -> ArraySlice<Int32> { pairs[starts[i]..<starts[i + 1]] }
    }

    public init(data: ParallelData, maxTokens: Int) {
        precondition(data.count < Int(Int32.max), "more than 2^31 pairs")
        let sLen = { (i: Int) in data.sources.length(i) }, tLen = { (i: Int) in data.targets.length(i) }
        // Sorted by (source length, target length, index). Lengths under 2^16 (any real model's) pack with the
        // index into one UInt64, so the sort compares integers instead of calling back into the data.
        var order = [Int32](repeating: 0, count: data.count)
        if (0..<data.count).allSatisfy({ sLen($0) < 1 << 16 && tLen($0) < 1 << 16 }) {
            var keys = (0..<data.count).map { UInt64(sLen($0)) << 48 | UInt64(tLen($0)) << 32 | UInt64($0) }
            keys.sort()
            for (j, k) in keys.enumerated() { order[j] = Int32(truncatingIfNeeded: k & 0xFFFF_FFFF) }
        } else {
            order = (0..<Int32(data.count)).sorted {
                let a = (sLen(Int($0)), tLen(Int($0))), b = (sLen(Int($1)), tLen(Int($1)))
                return a != b ? a < b : $0 < $1
            }
        }
        var starts = [0]
        var n = 0, maxS = 0, maxT = 0
        for (j, p) in order.enumerated() {
            let i = Int(p)
            let s = max(maxS, sLen(i)), t = max(maxT, tLen(i) + 1)
            if n > 0 && (n + 1) * max(s, t) > maxTokens {
                starts.append(j)
                n = 0; maxS = 0; maxT = 0
            }
            n += 1
            maxS = max(maxS, sLen(i)); maxT = max(maxT, tLen(i) + 1)
        }
        if n > 0 { starts.append(order.count) }
        self.pairs = order
        self.starts = starts
    }

    /// The order of the batches in `epoch` (a seeded Fisher–Yates shuffle).
    public func order(epoch: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        var o = Array(0..<batches.count)
        for i in stride(from: o.count - 1, to: 0, by: -1) { o.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return o
    }
}

/// A padded batch as the model takes it: src [B, Ts] (pad after each source), srcLengths [B], tgtIn [B, Tt]
/// (start token, then the target), targets [B, Tt] (the target, then EOS; the ignore index at padding).
public struct PaddedPairs {
    public var B = 0, Ts = 0, Tt = 0
    public var src: [Int32] = [], srcLengths: [Int32] = [], tgtIn: [Int32] = [], targets: [Int32] = []
    public var targetCount = 0

    public init() {}

    /// Grows the arrays to hold a batch of these sizes, so later fills allocate nothing.
    public mutating func reserve(sentences: Int, sourceTokens: Int, targetTokens: Int) {
        if src.count < sourceTokens { src = [Int32](repeating: 0, count: sourceTokens) }
        if srcLengths.count < sentences { srcLengths = [Int32](repeating: 0, count: sentences) }
        if tgtIn.count < targetTokens { tgtIn = [Int32](repeating: 0, count: targetTokens) }
        if targets.count < targetTokens { targets = [Int32](repeating: 0, count: targetTokens) }
    }

    /// Fills the arrays for `pairs` (reusing their storage once large enough).
    public mutating func fill<P: Collection>(_ pairs: P, from d: ParallelData, pad: Int32, eos: Int32, ignoreIndex: Int32 = -100)
        where P.Element: BinaryInteger {
        B = pairs.count
        // Longest sides by a loop, not map/max, so a training step's batch allocates nothing once the arrays
        // have grown to the largest batch.
        var longestSource = 1, longestTarget = 0
        for p in pairs { longestSource = max(longestSource, d.sources.length(Int(p))); longestTarget = max(longestTarget, d.targets.length(Int(p))) }
        Ts = longestSource
        Tt = longestTarget + 1
        func resize(_ a: inout [Int32], _ n: Int, _ v: Int32) {
            if a.count < n { a = [Int32](repeating: v, count: n) }
            a.withUnsafeMutableBufferPointer { $0.baseAddress!.update(repeating: v, count: n) }
        }
        resize(&src, B * Ts, pad); resize(&srcLengths, B, 0); resize(&tgtIn, B * Tt, pad); resize(&targets, B * Tt, ignoreIndex)
        targetCount = 0
        for (b, p) in pairs.enumerated() {
            let s = d.sources[Int(p)], t = d.targets[Int(p)]
            for (j, id) in zip(0..., s) { src[b * Ts + j] = id }
            srcLengths[b] = Int32(s.count)
            tgtIn[b * Tt] = eos
            for (j, id) in zip(0..., t) { tgtIn[b * Tt + j + 1] = id; targets[b * Tt + j] = id }
            targets[b * Tt + t.count] = eos
            targetCount += t.count + 1
        }
    }
}
