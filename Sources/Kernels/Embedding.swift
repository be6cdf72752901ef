// Dims legend: N lookups, V rows in the table, C channels.

/// out[n] = table[ids[n]] (a gather). Ids must be in 0..<V (callers validate input once, at load time).
public func embeddingForward(out: UnsafeMutablePointer<Float>,   // [N, C]
                             ids: UnsafePointer<Int32>,          // [N]
                             table: UnsafePointer<Float>,        // [V, C]
                             N: Int, C: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(N, minimumPerThread: max(1, 16384 / max(C, 1))) { range in
        for n in range { (out + n * C).update(from: table + Int(ids[n]) * C, count: C) }
    }
}

/// dtable[ids[n]] += dout[n] (a scatter-add). Threads split the channels, not the lookups, so two lookups of
/// the same id never race, and the sum over n runs in the same order whatever the thread count.
public func embeddingBackward(dtable: UnsafeMutablePointer<Float>,   // [V, C], accumulated into
                              dout: UnsafePointer<Float>,            // [N, C]
                              ids: UnsafePointer<Int32>,             // [N]
                              N: Int, C: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(C, minimumPerThread: max(8, C / max(1, pool.threadCount))) { cols in
        for n in 0..<N {
            let src = dout + n * C, dst = dtable + Int(ids[n]) * C
            var j = cols.lowerBound
            while j + 8 <= cols.upperBound { store8(load8(dst + j) + load8(src + j), dst + j); j += 8 }
            while j < cols.upperBound { dst[j] += src[j]; j += 1 }
        }
    }
}

/// Reference scatter-add.
public func embeddingBackwardNaive(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                   ids: UnsafePointer<Int32>, N: Int, C: Int) {
    for n in 0..<N { for j in 0..<C { dtable[Int(ids[n]) * C + j] += dout[n * C + j] } }
}
