import FileIO
import Foundation

/// Options of BPE training.
public struct BPETrainingOptions: Sendable {
    public var vocabularySize: Int
    /// Merging stops early when the best pair occurs fewer times than this.
    public var minPairFrequency: Int = 2
    /// Characters seen fewer times than this are left out of the alphabet (they fall back to bytes).
    public var minCharacterCount: Int = 2
    public var normalization: Normalization = .nfkc
    public var extraSpecialTokens: [String] = []
    public var threads: Int = 2

    public init(vocabularySize: Int) { self.vocabularySize = vocabularySize }

    /// The smallest vocabulary that holds specials, bytes and the space marker.
    public var minimumVocabularySize: Int {
        SpecialToken.allCases.count + extraSpecialTokens.filter { s in !SpecialToken.allCases.contains { $0.rawValue == s } }.count + 256 + 1
    }
}

/// What training reports through its callback (the library never prints).
public enum BPETrainingProgress: Sendable {
    case counting(linesDone: Int, linesTotal: Int)
    /// Training on files: bytes read (and their words counted) of all the files' bytes.
    case reading(bytesDone: Int, bytesTotal: Int)
    case merging(done: Int, total: Int, lastPiece: String, frequency: Int)
}

/// Trains byte-fallback BPE with incremental pair counts: after each merge only the words that held the
/// merged pair are re-counted, found through a pair -> words index, and the best pair comes from a
/// max-heap with lazy deletion. Ties go to the lower (left id, right id), so training is deterministic.
public enum BPETrainer {
    public static func train(lines: [String], options: BPETrainingOptions,
                             progress: ((BPETrainingProgress) -> Void)? = nil) throws -> BPETokenizer {
        guard options.vocabularySize >= options.minimumVocabularySize else {
            throw TokenizerError.vocabularyTooSmall(requested: options.vocabularySize, minimum: options.minimumVocabularySize)
        }
        let wordCounts = try countWords(lines: lines, options: options, progress: progress)
        return try train(wordCounts: wordCounts, options: options, progress: progress)
    }

    /// Trains on the text fields of corpus files (`TextFile.textFields`), streamed in blocks of `blockBytes`: the
    /// words of each block are counted on all threads and added up, so memory holds one block and the word
    /// counts, never the corpus. The same tokenizer as `train(lines:)` on the files' fields.
    /// 2 MB blocks: each still gives every thread thousands of lines, and the block is most of what training
    /// holds besides the counts (HF tokenizers trains on a file in about 40 MB; so does this).
    public static func train(files: [String], options: BPETrainingOptions, blockBytes: Int = 2 << 20,
                             progress: ((BPETrainingProgress) -> Void)? = nil) throws -> BPETokenizer {
        guard options.vocabularySize >= options.minimumVocabularySize else {
            throw TokenizerError.vocabularyTooSmall(requested: options.vocabularySize, minimum: options.minimumVocabularySize)
        }
        for f in files { try TextFile.checkReadable(f) }
        let total = files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        var counts: [String: Int] = [:], before = 0, anyText = false
        progress?(.reading(bytesDone: 0, bytesTotal: total))   // before the first block: a bar's clock starts here
        for f in files {
            let tsv = TextFile.isTSV(f)
            var read = 0
            try TextFile.forEachLineBlock(f, blockBytes: blockBytes) { lines, r in
                // A plain file's lines are its fields; only a TSV file's are copied out of their lines.
                var fields: [String] = []
                if tsv {
                    fields.reserveCapacity(lines.count * 2)
                    for l in lines { for x in TextFile.textFields(of: l, isTSV: tsv) where !x.isEmpty { fields.append(String(x)) } }
                } else {
                    fields = lines
                }
                if !anyText { anyText = fields.contains { !$0.allSatisfy(\.isWhitespace) } }
                counts.merge(try countWords(lines: fields, options: options, progress: nil), uniquingKeysWith: +)
                read = r
                progress?(.reading(bytesDone: before + r, bytesTotal: total))
            }
            before += read
        }
        if !anyText { throw TokenizerError.emptyCorpus(files) }
        return try train(wordCounts: counts, options: options, progress: progress)
    }

    /// Pre-token key -> occurrences, counted on `threads` threads, each with its own ICU iterator.
    static func countWords(lines: [String], options: BPETrainingOptions,
                           progress: ((BPETrainingProgress) -> Void)?) throws -> [String: Int] {
        let workers = max(1, min(options.threads, lines.count / 1000 + 1))
        var partial = [[String: Int]](repeating: [:], count: workers)
        var failure: Error? = nil
        let chunk = (lines.count + workers - 1) / workers
        let lock = NSLock()
        partial.withUnsafeMutableBufferPointer { parts in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                do {
                    let pre = try PreTokenizer(normalization: options.normalization)
                    var counts: [String: Int] = [:]
                    let lo = w * chunk, hi = min(lines.count, lo + chunk)
                    if lo < hi {
                        for i in lo..<hi {
                            try pre.forEachKey(in: lines[i]) { counts[$0, default: 0] += 1 }
                            if w == 0 && i % 4096 == 0 { progress?(.counting(linesDone: i * workers, linesTotal: lines.count)) }
                        }
                    }
                    parts[w] = counts
                } catch {
                    lock.withLock { failure = error }
                }
            }
        }
        if let failure { throw failure }
        progress?(.counting(linesDone: lines.count, linesTotal: lines.count))
        var total = partial[0]
        for p in partial.dropFirst() { total.merge(p, uniquingKeysWith: +) }
        return total
    }

    static func train(wordCounts: [String: Int], options: BPETrainingOptions,
                      progress: ((BPETrainingProgress) -> Void)?) throws -> BPETokenizer {
        var vocab = Vocabulary(specialTokens: options.extraSpecialTokens)
        vocab.add(String(spaceMarker))

        // Alphabet: characters by frequency (ties by code point), as many as fit beside one merge.
        var charCounts: [Unicode.Scalar: Int] = [:]
        for (key, n) in wordCounts {
            for s in key.unicodeScalars where s.value != 0x20 && s.value != 0x2581 { charCounts[s, default: 0] += n }
        }
        let alphabet = charCounts.filter { $0.value >= options.minCharacterCount }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.value < $1.key.value }
            .prefix(max(0, options.vocabularySize - vocab.count))
        for (s, _) in alphabet { vocab.add(String(s)) }

        let model = try BPETokenizer(vocabulary: vocab, merges: [], normalization: options.normalization)
        // Words as symbol sequences. Sorted keys make word indices (and so everything) reproducible.
        let keys = wordCounts.keys.sorted()
        var words: [[Int32]] = keys.map { model.initialSymbols($0) }
        let freq: [Int] = keys.map { wordCounts[$0]! }

        var pairCount: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        for (w, sym) in words.enumerated() where sym.count > 1 {
            for i in 0..<(sym.count - 1) where mergeable(sym[i], sym[i + 1], vocab) {
                let k = pairKey(sym[i], sym[i + 1])
                pairCount[k, default: 0] += freq[w]
                pairWords[k, default: []].append(Int32(w))
            }
        }
        var heap = PairHeap()
        for (k, c) in pairCount { heap.push(PairHeap.Entry(count: c, key: k)) }

        var merges: [(Int32, Int32)] = []
        var lastVisit = [Int32](repeating: -1, count: words.count)
        let target = options.vocabularySize - vocab.count
        var changed: Set<UInt64> = []
        while vocab.count < options.vocabularySize, let top = heap.pop() {
            guard let current = pairCount[top.key], current == top.count else { continue }  // stale entry
            if current < options.minPairFrequency { break }
            let a = Int32(truncatingIfNeeded: top.key >> 32), b = Int32(truncatingIfNeeded: top.key & 0xFFFF_FFFF)
            let piece = vocab.pieces[Int(a)] + vocab.pieces[Int(b)]
            let newId = vocab.add(piece)
            merges.append((a, b))
            let mergeIndex = Int32(merges.count)
            changed.removeAll(keepingCapacity: true)
            for w32 in pairWords[top.key] ?? [] {
                let w = Int(w32)
                if lastVisit[w] == mergeIndex { continue }
                lastVisit[w] = mergeIndex
                // Subtract the word's pairs, merge, add them back: simple and exact for words of any shape.
                let f = freq[w]
                var sym = words[w]
                guard containsPair(sym, a, b) else { continue }
                for i in 0..<(sym.count - 1) where mergeable(sym[i], sym[i + 1], vocab) {
                    let k = pairKey(sym[i], sym[i + 1])
                    pairCount[k]! -= f
                    changed.insert(k)
                }
                var out: [Int32] = []
                out.reserveCapacity(sym.count)
                var i = 0
                while i < sym.count {
                    if i + 1 < sym.count && sym[i] == a && sym[i + 1] == b {
                        out.append(newId); i += 2
                    } else {
                        out.append(sym[i]); i += 1
                    }
                }
                sym = out
                if sym.count > 1 {
                    for i in 0..<(sym.count - 1) where mergeable(sym[i], sym[i + 1], vocab) {
                        let k = pairKey(sym[i], sym[i + 1])
                        pairCount[k, default: 0] += f
                        if sym[i] == newId || sym[i + 1] == newId { pairWords[k, default: []].append(w32) }
                        changed.insert(k)
                    }
                }
                words[w] = sym
            }
            pairWords[top.key] = nil
            for k in changed {
                let c = pairCount[k]!
                if c <= 0 { pairCount[k] = nil } else { heap.push(PairHeap.Entry(count: c, key: k)) }
            }
            if merges.count % 50 == 0 || vocab.count == options.vocabularySize {
                progress?(.merging(done: merges.count, total: target, lastPiece: piece, frequency: current))
            }
        }
        progress?(.merging(done: merges.count, total: merges.count, lastPiece: "", frequency: 0))
        return try BPETokenizer(vocabulary: vocab, merges: merges, normalization: options.normalization)
    }

    @inline(__always) static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
    }

    /// Byte tokens never merge: they spell characters outside the alphabet, and keeping them apart makes
    /// the model identical to HF's byte-fallback BPE.
    @inline(__always) static func mergeable(_ a: Int32, _ b: Int32, _ v: Vocabulary) -> Bool {
        !v.isByte(a) && !v.isByte(b)
    }

    static func containsPair(_ s: [Int32], _ a: Int32, _ b: Int32) -> Bool {
        if s.count < 2 { return false }
        for i in 0..<(s.count - 1) where s[i] == a && s[i + 1] == b { return true }
        return false
    }
}

/// Max-heap of (count, pair); ties pop the lower pair key (lower left id, then lower right id).
struct PairHeap {
    struct Entry { var count: Int; var key: UInt64 }
    private var items: [Entry] = []

    @inline(__always) private static func above(_ x: Entry, _ y: Entry) -> Bool {
        x.count != y.count ? x.count > y.count : x.key < y.key
    }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !PairHeap.above(items[i], items[p]) { break }
            items.swapAt(i, p); i = p
        }
    }

    mutating func pop() -> Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return top }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && PairHeap.above(items[l], items[m]) { m = l }
            if r < items.count && PairHeap.above(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m); i = m
        }
        return top
    }
}

