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

    public static func load(tsv path: String, columns: (Int, Int)? = nil) throws -> ParallelText {
        let lines = try TextFile.lines(path)
        var text = ParallelText()
        var expected: Int? = nil
        var cols = columns
        for (i, line) in lines.enumerated() {
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
        }
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
    public var sources: [[Int32]] = []
    public var targets: [[Int32]] = []
    /// The target text of each kept pair (validation BLEU references).
    public var targetText: [String] = []
    /// The index in the `ParallelText` of each kept pair (over-long ones leave gaps).
    public var origins: [Int] = []
    public var skippedEmpty = 0
    public var skippedLong = 0
    public var count: Int { sources.count }
    public var targetTokens: Int { targets.reduce(0) { $0 + $1.count + 1 } }

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
        for i in 0..<src.count {
            if src[i].count + 1 > maxLength || tgt[i].count + 1 > maxLength { d.skippedLong += 1; continue }
            d.sources.append(src[i] + [eos])
            d.targets.append(tgt[i])
            d.targetText.append(text.targets[i])
            d.origins.append(i)
        }
        return d
    }

    /// Encodes lines on `threads` threads (one tokenizer copy each), in order.
    static func encodeLines(_ lines: [String], tokenizer: BPETokenizer, threads: Int, dropout: Double = 0, seed: UInt64 = 0) throws -> [[Int32]] {
        let workers = max(1, min(threads, lines.count / 1000 + 1))
        var out = [[Int32]](repeating: [], count: lines.count)
        var failure: Error? = nil
        let lock = NSLock()
        let toks = try (0..<workers).map { _ in try tokenizer.copy() }
        out.withUnsafeMutableBufferPointer { o in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = lines.count * w / workers, hi = lines.count * (w + 1) / workers
                do {
                    for i in lo..<hi {
                        if dropout > 0 {
                            var rng = SplitMix64(seed: SplitMix64.mix(seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
                            o[i] = try toks[w].encode(lines[i], dropout: dropout, using: &rng)
                        } else {
                            o[i] = try toks[w].encode(lines[i])
                        }
                    }
                } catch { lock.withLock { failure = error } }
            }
        }
        if let failure { throw failure }
        return out
    }
}

/// Batches of pairs with similar lengths under a token budget (fairseq's `--max-tokens`): pairs sorted by
/// source then target length are cut into batches whose padded size, sentences × the longer padded side,
/// stays within the budget. The batches are fixed; each epoch visits them in a fresh seeded order.
public struct LengthBuckets: Sendable {
    public let batches: [[Int]]

    public init(data: ParallelData, maxTokens: Int) {
        let order = (0..<data.count).sorted {
            let a = (data.sources[$0].count, data.targets[$0].count), b = (data.sources[$1].count, data.targets[$1].count)
            return a != b ? a < b : $0 < $1
        }
        var batches: [[Int]] = []
        var cur: [Int] = []
        var maxS = 0, maxT = 0
        for i in order {
            let s = max(maxS, data.sources[i].count), t = max(maxT, data.targets[i].count + 1)
            if !cur.isEmpty && (cur.count + 1) * max(s, t) > maxTokens {
                batches.append(cur)
                cur = []; maxS = 0; maxT = 0
            }
            cur.append(i)
            maxS = max(maxS, data.sources[i].count); maxT = max(maxT, data.targets[i].count + 1)
        }
        if !cur.isEmpty { batches.append(cur) }
        self.batches = batches
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
    public mutating func fill(_ pairs: [Int], from d: ParallelData, pad: Int32, eos: Int32, ignoreIndex: Int32 = -100) {
        B = pairs.count
        // Longest sides by a loop, not map/max, so a training step's batch allocates nothing once the arrays
        // have grown to the largest batch.
        var longestSource = 1, longestTarget = 0
        for p in pairs { longestSource = max(longestSource, d.sources[p].count); longestTarget = max(longestTarget, d.targets[p].count) }
        Ts = longestSource
        Tt = longestTarget + 1
        func resize(_ a: inout [Int32], _ n: Int, _ v: Int32) {
            if a.count < n { a = [Int32](repeating: v, count: n) }
            a.withUnsafeMutableBufferPointer { $0.baseAddress!.update(repeating: v, count: n) }
        }
        resize(&src, B * Ts, pad); resize(&srcLengths, B, 0); resize(&tgtIn, B * Tt, pad); resize(&targets, B * Tt, ignoreIndex)
        targetCount = 0
        for (b, p) in pairs.enumerated() {
            let s = d.sources[p], t = d.targets[p]
            for (j, id) in s.enumerated() { src[b * Ts + j] = id }
            srcLengths[b] = Int32(s.count)
            tgtIn[b * Tt] = eos
            for (j, id) in t.enumerated() { tgtIn[b * Tt + j + 1] = id; targets[b * Tt + j] = id }
            targets[b * Tt + t.count] = eos
            targetCount += t.count + 1
        }
    }
}
