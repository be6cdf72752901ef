import Foundation
import FileIO

/// Read-only token ids, in memory or read from an id cache file as they are needed: what a language model
/// trains on. A cached corpus of gigabytes stays on disk (and in the kernel's page cache, which it can drop):
/// a step reads its B windows of T+1 ids with `pread`, a few kilobytes, so the process's memory does not grow
/// with the corpus.
///
/// Why not mmap: training touches random windows, and a mapping keeps every page a window touched resident in
/// the process (on kernels with large page-cache folios, up to a couple of MB per touch), so over a run the
/// resident set grows towards the whole cache. Reading the few bytes a step needs costs microseconds.
public final class TokenIDs: @unchecked Sendable {   // immutable after init; pread is safe from any thread
    public let count: Int
    private enum Storage {
        case memory(UnsafeMutablePointer<Int32>)
        case file(fd: Int32, offset: Int, path: String)
    }
    private let storage: Storage

    /// Ids held in memory (a copy of `ids`).
    public init(_ ids: [Int32]) {
        count = ids.count
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, ids.count))
        ids.withUnsafeBufferPointer { if let b = $0.baseAddress { p.update(from: b, count: ids.count) } }
        storage = .memory(p)
    }

    /// `count` little-endian Int32 ids starting at byte `offset` of a file, read on demand. The file stays open:
    /// replacing or deleting it afterwards does not change what this object reads.
    public init(file path: String, offset: Int, count: Int) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.unreadable(path, reason: String(cString: strerror(errno))) }
        // Training reads random windows: read-ahead around each one would only fill the page cache.
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)
        self.count = count
        storage = .file(fd: fd, offset: offset, path: path)
    }

    deinit {
        switch storage {
        case .memory(let p): p.deallocate()
        case .file(let fd, _, _): close(fd)
        }
    }

    /// Copies ids [start, start + n) into `dst` ([n]).
    public func copy(from start: Int, count n: Int, into dst: UnsafeMutablePointer<Int32>) {
        precondition(start >= 0 && n >= 0 && start + n <= count, "ids \(start)..<\(start + n) outside 0..<\(count)")
        switch storage {
        case .memory(let p):
            dst.update(from: p + start, count: n)
        case .file(let fd, let offset, let path):
            let raw = UnsafeMutableRawPointer(dst)
            var done = 0, want = 4 * n
            while done < want {
                let r = pread(fd, raw + done, want - done, off_t(offset + 4 * start + done))
                if r < 0 && errno == EINTR { continue }
                // The cache was checked whole when it was opened; a read failing now is the disk failing under a
                // running trainer, which no step can recover from.
                guard r > 0 else { fatalError("reading the id cache \(path) failed: \(r < 0 ? String(cString: strerror(errno)) : "it was truncated")") }
                done += r
            }
        }
    }

    /// Calls `body` with consecutive pieces of the ids ([≤ chunk] each), in order: a pass over all of them in
    /// bounded memory (the unigram prior).
    public func forEachChunk(_ chunk: Int = 1 << 20, _ body: (UnsafeBufferPointer<Int32>) throws -> Void) rethrows {
        if case .memory(let p) = storage { return try body(UnsafeBufferPointer(start: p, count: count)) }
        let buf = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
        defer { buf.deallocate() }
        var at = 0
        while at < count {
            let n = min(chunk, count - at)
            copy(from: at, count: n, into: buf)
            try body(UnsafeBufferPointer(start: buf, count: n))
            at += n
        }
    }

    /// A copy in an array (for the small validation stream, and tests).
    public var array: [Int32] {
        var out = [Int32](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { if count > 0 { copy(from: 0, count: count, into: $0.baseAddress!) } }
        return out
    }
}
