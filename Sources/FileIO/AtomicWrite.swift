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
    let ok = data.withUnsafeBytes { raw -> Bool in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { return false }
            off += n
        }
        return fsync(fd) == 0
    }
    close(fd)
    guard ok else {
        unlink(tmp.path)
        throw FileError.unwritable(path, reason: "writing failed (disk full?)")
    }
    if rename(tmp.path, path) != 0 {
        try? FileManager.default.removeItem(at: tmp)
        throw FileError.unwritable(path, reason: "cannot rename the temporary file into place")
    }
}
