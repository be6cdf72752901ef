import Kernels

/// Keys and values of every layer for `batch` sequences, up to the model's context, plus the scratch an
/// incremental step needs (so decoding allocates nothing per token). Rows can be reordered by origin, which
/// beam search needs when hypotheses are re-ranked.
public final class KVCache {
    public let batch: Int
    public let capacity: Int
    public private(set) var length = 0
    let C: Int, layers: Int
    let keys: UnsafeMutablePointer<Float>     // [layers, batch blocks, capacity, C]
    let values: UnsafeMutablePointer<Float>   // [layers, batch blocks, capacity, C]
    /// The block of each row.
    var slots: CacheSlots
    // One step's activations, rows = batch.
    let x, ln, atty, proj: UnsafeMutablePointer<Float>   // [batch, C]
    let qkv: UnsafeMutablePointer<Float>                 // [batch, 3C]
    let fc, fcGelu: UnsafeMutablePointer<Float>          // [batch, 4C]
    let mean, rstd: UnsafeMutablePointer<Float>          // [batch]
    let scores: UnsafeMutablePointer<Float>              // [batch · heads, capacity]
    /// Per row, for the cached-attention kernel: where its cache starts, and how many positions it sees.
    var offsets: [Int], lengths: [Int32]
    /// Owns every buffer above.
    private let arena: ActivationArena

    public init(config c: GPTConfig, batch: Int) {
        self.batch = batch
        capacity = c.context
        C = c.dModel
        layers = c.layers
        let a = ActivationArena()
        arena = a
        keys = a.take(c.layers * batch * c.context * c.dModel)
        values = a.take(c.layers * batch * c.context * c.dModel)
        slots = CacheSlots(blocks: batch)
        x = a.take(batch * C); ln = a.take(batch * C); atty = a.take(batch * C); proj = a.take(batch * C)
        qkv = a.take(batch * 3 * C)
        fc = a.take(batch * 4 * C); fcGelu = a.take(batch * 4 * C)
        mean = a.take(batch); rstd = a.take(batch)
        scores = a.take(batch * c.heads * c.context)
        offsets = (0..<batch).map { $0 * c.context * c.dModel }
        lengths = [Int32](repeating: 0, count: batch)
    }

    public func reset() {
        length = 0
        slots.reset()
        for b in 0..<batch { offsets[b] = b * capacity * C }
    }

    /// Row b's cached key (value) at position t of layer l.
    func key(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { keys + ((l * batch + slots.slot[b]) * capacity + t) * C }
    func value(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { values + ((l * batch + slots.slot[b]) * capacity + t) * C }
    /// Layer l's keys (values), which `offsets` index.
    func keyBase(_ l: Int) -> UnsafeMutablePointer<Float> { keys + l * batch * capacity * C }
    func valueBase(_ l: Int) -> UnsafeMutablePointer<Float> { values + l * batch * capacity * C }

    /// Row b takes the cached keys and values of row origins[b] (beam search re-ranking; rows past
    /// origins.count are left undefined). Rows take over their origins' blocks; only an origin's second and
    /// later children cost a copy (of the filled positions).
    public func reorder(origins: [Int]) {
        let copies = slots.reorder(origins: origins)
        copyCacheBlocks([keys, values], layers: layers, blocks: batch, span: capacity * C, filled: length * C, copies: copies)
        for b in 0..<batch { offsets[b] = slots.slot[b] * capacity * C }
    }

    func advance() { length += 1 }
}

/// Which block of a cache holds each row's keys and values. Beam search re-ranks its rows at every step; moving
/// every row's cache to the row's new place cost two copies of every filled position per step (5 % of a
/// translation step). Instead a row takes over its origin's block, and only the second and later children of
/// one origin get a copy, into a block no row uses.
struct CacheSlots {
    /// slot[i]: the block of row i.
    private(set) var slot: [Int]
    init(blocks: Int) { slot = Array(0..<blocks) }
    /// Row i in block i.
    mutating func reset() { for i in slot.indices { slot[i] = i } }

    /// Row i takes row origins[i]'s contents (rows past origins.count get the blocks left over, contents
    /// undefined). Returns the block copies to make, before anything is written to a block: each copy reads a
    /// block some row keeps and writes one no row had.
    mutating func reorder(origins: [Int]) -> [(from: Int, to: Int)] {
        let n = slot.count
        var taken = [Bool](repeating: false, count: n), next = [Int](repeating: -1, count: n)
        for (i, o) in origins.enumerated() where !taken[slot[o]] {
            taken[slot[o]] = true
            next[i] = slot[o]
        }
        var free = (0..<n).filter { !taken[$0] }[...]
        var copies: [(from: Int, to: Int)] = []
        for (i, o) in origins.enumerated() where next[i] < 0 {
            let f = free.removeFirst()
            copies.append((slot[o], f))
            next[i] = f
        }
        for i in origins.count..<n { next[i] = free.removeFirst() }
        slot = next
        return copies
    }
}

/// Copies the first `filled` floats of block `from` to block `to` in every layer of each cache (blocks `span`
/// floats apart, `blocks` per layer).
func copyCacheBlocks(_ caches: [UnsafeMutablePointer<Float>], layers: Int, blocks: Int, span: Int, filled: Int,
                     copies: [(from: Int, to: Int)]) {
    for cache in caches {
        for l in 0..<layers {
            let base = cache + l * blocks * span
            for (from, to) in copies { (base + to * span).update(from: base + from * span, count: filled) }
        }
    }
}
