@testable import Model
import Testing
import TestSupport

/// The block bookkeeping behind cache reordering: after each re-ranking every row sees its origin's contents,
/// no two rows share a block (each will append a different token), and only extra children cost a copy.
@Suite struct CacheSlotsTests {
    @Test func rowsSeeTheirOriginsAndNeverShareABlock() {
        var rng = SeededGenerator(seed: testSeed())
        for blocks in [1, 2, 7, 33] {
            var slots = CacheSlots(blocks: blocks)
            // contents[b]: what block b holds, as the history of tokens its row appended.
            var contents = (0..<blocks).map { [$0] }
            var rows = blocks
            for step in 0..<40 {
                // Fewer rows as sentences finish, origins with repeats (a hypothesis with several children).
                let newRows = max(1, min(blocks, rows - Int(rng.next() % 2)))
                let origins = (0..<newRows).map { _ in Int(rng.next() % UInt64(rows)) }
                let before = (0..<rows).map { contents[slots.slot[$0]] }
                let copies = slots.reorder(origins: origins)
                let kept = Set(origins).count
                #expect(copies.count == newRows - kept, "one copy per extra child")
                for (from, to) in copies { contents[to] = contents[from] }
                for (i, o) in origins.enumerated() { #expect(contents[slots.slot[i]] == before[o], "blocks \(blocks) step \(step) row \(i)") }
                #expect(Set(slots.slot).count == blocks, "every block belongs to one row")
                for i in 0..<newRows { contents[slots.slot[i]].append(1000 * step + i) }
                rows = newRows
            }
        }
    }
}
