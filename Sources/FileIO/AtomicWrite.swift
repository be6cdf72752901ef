import Foundation

/// Writes `data` to `path` through a temporary file in the same directory, flushed to disk, and a rename, so
/// a reader never sees a half-written file and an interrupted write leaves the old file intact.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent()
    var isDir: ObjCBool = false
    if !FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw FileError.unwritable(dir.path, reason: "cannot create the directory")
        }
    } else if !isDir.boolValue {
        throw FileError.unwritable(dir.path, reason: "it is a file, not a directory")
    }
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw FileError.unwritable(path, reason: "cannot write in \(dir.path)") }
    var failure: Int32 = 0
    data.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = n < 0 ? errno : ENOSPC; return }
            off += n
        }
        if fsync(fd) != 0 { failure = errno }
    }
    close(fd)
    guard failure == 0 else {
        unlink(tmp.path)
        if failure == ENOSPC || failure == EDQUOT { throw FileError.diskFull(path, needed: data.count, available: freeBytes(dir.path)) }
        throw FileError.unwritable(path, reason: "writing failed: \(String(cString: strerror(failure)))")
    }
    if rename(tmp.path, path) != 0 {
        try? FileManager.default.removeItem(at: tmp)
        throw FileError.unwritable(path, reason: "cannot rename the temporary file into place")
    }
}

/// "12.3 MB" (decimal megabytes, as `df -H` says).
func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

/// The bytes an unprivileged writer has left on the file system of `dir` (nil if it cannot be told).
public func freeBytes(_ dir: String) -> Int? {
    var st = statvfs()
    guard statvfs(dir, &st) == 0 else { return nil }
    return Int(st.f_bavail) * Int(st.f_frsize)
}

/// Removes from `dir` the temporary files of `writeAtomically` calls whose process died before the rename
/// (`.NAME.tmp-PID` with no process PID any more): half-written files that nothing will ever finish. Files of
/// live processes are left alone. Returns how many were removed.
@discardableResult
public func removeAbandonedTemporaries(in dir: String) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    var removed = 0
    for name in names where name.hasPrefix(".") {
        guard let r = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[r.upperBound...]) else { continue }
        if kill(pid, 0) == 0 || errno != ESRCH { continue }   // alive (or not ours to signal): not abandoned
        if unlink(dir + "/" + name) == 0 { removed += 1 }
    }
    return removed
}

/// A file written in pieces that appears at `path` complete or not at all: appends go to `.NAME.tmp-PID` in the
/// same directory; `finish` flushes it to disk and renames it into place; an error, or dropping the writer
/// unfinished, removes the temporary file. For outputs too large to build in memory (id caches of big corpora).
public final class AtomicFileWriter {
    public let path: String
    let tmp: String
    var fd: Int32
    public private(set) var written = 0

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        tmp = dir + "/.\(url.lastPathComponent).tmp-\(getpid())"
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError.unwritable(path, reason: "cannot write in \(dir)") }
    }

    deinit { if fd >= 0 { close(fd); unlink(tmp) } }

    /// Writes `bytes` at `offset` (a header filled in at the end), or appends them when `offset` is nil.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        var off = 0
        while off < bytes.count {
            let n = offset.map { pwrite(fd, bytes.baseAddress! + off, bytes.count - off, off_t($0 + off)) }
                ?? Foundation.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { try fail(n < 0 ? errno : ENOSPC, needed: bytes.count - off) }
            off += n
        }
        if offset == nil { written += bytes.count }
    }

    public func finish() throws {
        if fsync(fd) != 0 { try fail(errno, needed: 0) }
        close(fd)
        fd = -1
        if rename(tmp, path) != 0 {
            unlink(tmp)
            throw FileError.unwritable(path, reason: "cannot rename the temporary file into place")
        }
    }

    private func fail(_ code: Int32, needed: Int) throws -> Never {
        close(fd)
        fd = -1
        unlink(tmp)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if code == ENOSPC || code == EDQUOT { throw FileError.diskFull(path, needed: written + needed, available: freeBytes(dir)) }
        throw FileError.unwritable(path, reason: "writing failed: \(String(cString: strerror(code)))")
    }
}
