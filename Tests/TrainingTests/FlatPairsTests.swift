import Testing
import Datasets
import Kernels

/// The flat pair storage and length buckets against the array-per-pair versions they replaced.
@Suite struct FlatPairsTests {
    /// Random pairs with lengths in 0..<maxLen (empty ones included).
    static func pairs(_ n: Int, maxLen: Int, seed: UInt64) -> (src: [[Int32]], tgt: [[Int32]]) {
        var rng = SplitMix64(seed: seed)
        func seq() -> [Int32] { (0..<Int(rng.next() % UInt64(maxLen))).map { _ in Int32(rng.next() % 50) } }
        var s: [[Int32]] = [], t: [[Int32]] = []
        for _ in 0..<n { s.append(seq()); t.append(seq()) }
        return (s, t)
    }

    static func data(_ src: [[Int32]], _ tgt: [[Int32]]) -> ParallelData {
        var d = ParallelData()
        d.sources = TokenSequences(src)
        d.targets = TokenSequences(tgt)
        return d
    }

    /// The batching before flat storage: pairs sorted by (source, target length, index) with a comparator,
    /// cut where the padded batch would pass the budget, one array per batch.
    static func naiveBatches(_ src: [[Int32]], _ tgt: [[Int32]], maxTokens: Int) -> [[Int]] {
        let order = (0..<src.count).sorted {
            let a = (src[$0].count, tgt[$0].count), b = (src[$1].count, tgt[$1].count)
            return a != b ? a < b : $0 < $1
        }
        var batches: [[Int]] = [], cur: [Int] = [], maxS = 0, maxT = 0
        for i in order {
            let s = max(maxS, src[i].count), t = max(maxT, tgt[i].count + 1)
            if !cur.isEmpty && (cur.count + 1) * max(s, t) > maxTokens { batches.append(cur); cur = []; maxS = 0; maxT = 0 }
            cur.append(i)
            maxS = max(maxS, src[i].count); maxT = max(maxT, tgt[i].count + 1)
        }
        if !cur.isEmpty { batches.append(cur) }
        return batches
    }

    @Test(arguments: [1, 7, 33, 257, 2000])
    func sequencesHoldWhatWasAppended(n: Int) {
        let (src, _) = Self.pairs(n, maxLen: 12, seed: UInt64(n))
        let seqs = TokenSequences(src)
        #expect(seqs.count == n)
        #expect(seqs.ids.count == src.reduce(0) { $0 + $1.count })
        for i in 0..<n {
            #expect(Array(seqs[i]) == src[i] && seqs.length(i) == src[i].count && seqs.array(i) == src[i])
        }
        var withEOS = TokenSequences()
        for s in src { withEOS.append(s, then: 3) }
        #expect((0..<n).allSatisfy { withEOS.array($0) == src[$0] + [3] })
    }

    @Test(arguments: [(1, 64), (7, 64), (33, 40), (257, 150), (2000, 300)])
    func bucketsEqualTheNaiveBatching(n: Int, maxTokens: Int) {
        let (src, tgt) = Self.pairs(n, maxLen: 20, seed: 7 &+ UInt64(n))
        let buckets = LengthBuckets(data: Self.data(src, tgt), maxTokens: maxTokens)
        #expect(buckets.batches.map { $0.map(Int.init) } == Self.naiveBatches(src, tgt, maxTokens: maxTokens))
    }

    /// A side of 2^16 tokens or more cannot be packed into the sort key, so the comparator sort runs instead;
    /// it must give the same batches.
    @Test func bucketsWithVeryLongSidesEqualTheNaiveBatching() {
        var (src, tgt) = Self.pairs(40, maxLen: 20, seed: 99)
        src[5] = [Int32](repeating: 1, count: 1 << 16)
        tgt[17] = [Int32](repeating: 2, count: (1 << 16) + 3)
        let buckets = LengthBuckets(data: Self.data(src, tgt), maxTokens: 200)
        #expect(buckets.batches.map { $0.map(Int.init) } == Self.naiveBatches(src, tgt, maxTokens: 200))
    }

    /// A batch's slice keeps the indices of the flat array it is cut from: filling from a later batch must read
    /// its own pairs, not the first batch's.
    @Test func paddedPairsFromALaterBatch() {
        let (src, tgt) = Self.pairs(100, maxLen: 9, seed: 5)
        let d = Self.data(src, tgt)
        let buckets = LengthBuckets(data: d, maxTokens: 40)
        #expect(buckets.batches.count > 2)
        let b = buckets.batches[buckets.batches.count - 1]
        var padded = PaddedPairs()
        padded.fill(b, from: d, pad: 0, eos: 3)
        for (row, p) in b.enumerated() {
            #expect(Array(padded.src[(row * padded.Ts)..<(row * padded.Ts + src[Int(p)].count)]) == src[Int(p)])
            #expect(padded.srcLengths[row] == Int32(src[Int(p)].count))
        }
    }
}
