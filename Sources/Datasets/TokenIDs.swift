import Foundation
import FileIO

/// Read-only token ids, in memory or memory-mapped from an id cache: what a language model trains on. A
/// mapped corpus of gigabytes lives in the page cache, which the kernel reads in as windows touch it and can
/// drop again, instead of in the process's heap.
public final class TokenIDs: @unchecked Sendable {
    public let count: Int
    private let base: UnsafePointer<Int32>?
    private let release: () -> Void

    /// Ids held in memory (a copy of `ids`).
    public init(_ ids: [Int32]) {
        count = ids.count
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, ids.count))
        ids.withUnsafeBufferPointer { if let b = $0.baseAddress { p.update(from: b, count: ids.count) } }
        base = UnsafePointer(p)
        release = { p.deallocate() }
    }

    /// `count` ids starting at byte `offset` of a file, mapped read-only (the file may be replaced or deleted
    /// afterwards: the mapping keeps its pages). An empty stream maps nothing.
    public init(mapping path: String, offset: Int, count: Int) throws {
        self.count = count
        guard count > 0 else { base = nil; release = {}; return }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.unreadable(path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // mmap needs a page-aligned offset: map from the page the ids start in.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page, length = offset - start + 4 * count
        guard let m = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, off_t(start)), m != MAP_FAILED else {
            throw FileError.unreadable(path, reason: "cannot map it: \(String(cString: strerror(errno)))")
        }
        base = UnsafePointer((m + (offset - start)).assumingMemoryBound(to: Int32.self))
        release = { munmap(m, length) }
    }

    deinit { release() }

    public subscript(i: Int) -> Int32 {
        precondition(i >= 0 && i < count, "token index \(i) outside 0..<\(count)")
        return base![i]
    }

    /// The ids as a buffer, valid during `body` ([count]).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Int32>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// A copy in an array (for the small validation stream, and tests).
    public var array: [Int32] { withUnsafeBufferPointer { Array($0) } }
}
