/// Many token sequences in one flat array: sequence i is ids[offsets[i] ..< offsets[i + 1]].
///
/// Why not [[Int32]]: an array per sentence costs a heap block and a 32-byte header besides its ids, about as
/// much again as a bible sentence's ids, and ten million of them are ten million allocations to make and free.
public struct TokenSequences: RandomAccessCollection, Equatable, Sendable {
    /// ids [total tokens]
    public private(set) var ids: [Int32] = []
    /// offsets [count + 1]: where each sequence starts, then the end of the last
    public private(set) var offsets: [Int] = [0]

    public init() {}

    public init<S: Sequence>(_ sequences: S) where S.Element: Collection, S.Element.Element == Int32 {
        for s in sequences { append(s) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.count - 1 }

    public subscript(i: Int) -> ArraySlice<Int32> { ids[offsets[i]..<offsets[i + 1]] }

    /// The length of sequence i, without touching its ids.
    public func length(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }

    /// Appends one sequence, then `extra` (e.g. EOS) if given.
    public mutating func append<C: Collection>(_ s: C, then extra: Int32? = nil) where C.Element == Int32 {
        ids.append(contentsOf: s)
        if let extra { ids.append(extra) }
        offsets.append(ids.count)
    }

    public mutating func reserve(sequences: Int, tokens: Int) {
        ids.reserveCapacity(tokens)
        offsets.reserveCapacity(sequences + 1)
    }

    /// Sequence i as an array of its own (for callers that keep a few, e.g. sentences to decode).
    public func array(_ i: Int) -> [Int32] { Array(self[i]) }
}
