import Foundation

/// Reads a UTF-8 text corpus as lines, with errors that name the file and the line.
public enum TextFile {
    /// Checks, without reading it, that `path` is a file this process can read (a missing file, a directory
    /// or no permission is a clear error), so commands can refuse bad paths before any work.
    public static func checkReadable(_ path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FileError.fileNotFound(path) }
        if isDir.boolValue { throw FileError.isDirectory(path) }
        guard access(path, R_OK) == 0 else { throw FileError.unreadable(path, reason: "permission denied") }
    }

    /// The raw bytes of a file, or a clear error for a missing file, a directory or no permission.
    public static func bytes(_ path: String) throws -> [UInt8] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FileError.fileNotFound(path)
        }
        if isDir.boolValue { throw FileError.isDirectory(path) }
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw FileError.unreadable(path, reason: "permission denied")
        }
        defer { try? fh.close() }
        do {
            return Array(try fh.readToEnd() ?? Data())
        } catch {
            throw FileError.unreadable(path, reason: "\(error)")
        }
    }

    /// The first non-empty line of a file, reading only as far as it (a corpus may be gigabytes).
    public static func firstNonEmptyLine(_ path: String) throws -> String? {
        try checkReadable(path)
        guard let fh = FileHandle(forReadingAtPath: path) else { throw FileError.unreadable(path, reason: "permission denied") }
        defer { try? fh.close() }
        var pending: [UInt8] = [], lineNo = 1
        while true {
            let chunk = fh.readData(ofLength: 1 << 16)
            pending += chunk
            while let nl = pending.firstIndex(of: 0x0A) {
                var line = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                if line.last == 0x0D { line.removeLast() }
                if !line.isEmpty {
                    guard let s = String(validating: line, as: UTF8.self) else { throw FileError.invalidUTF8(file: path, line: lineNo) }
                    return s
                }
                lineNo += 1
            }
            if chunk.isEmpty {
                if pending.last == 0x0D { pending.removeLast() }
                if pending.isEmpty { return nil }
                guard let s = String(validating: pending, as: UTF8.self) else { throw FileError.invalidUTF8(file: path, line: lineNo) }
                return s
            }
        }
    }

    /// Lines of a UTF-8 file (without `\n` or a trailing `\r`), validated line by line.
    public static func lines(_ path: String) throws -> [String] {
        let data = try bytes(path)
        var lines: [String] = []
        try data.withUnsafeBufferPointer { buf in
            var start = 0, lineNo = 1
            func take(_ end: Int) throws {
                var e = end
                if e > start && buf[e - 1] == 0x0D { e -= 1 }
                guard let s = String(validating: UnsafeBufferPointer(rebasing: buf[start..<e]), as: UTF8.self) else {
                    throw FileError.invalidUTF8(file: path, line: lineNo)
                }
                lines.append(s)
            }
            for i in 0..<buf.count where buf[i] == 0x0A {
                try take(i)
                start = i + 1
                lineNo += 1
            }
            if start < buf.count { try take(buf.count) }
        }
        return lines
    }

    /// How many lines `lines(path)` would give (a newline ends each; a last line without one counts), counted
    /// in blocks without holding the file or its lines.
    public static func lineCount(_ path: String) throws -> Int {
        try checkReadable(path)
        guard let fh = FileHandle(forReadingAtPath: path) else { throw FileError.unreadable(path, reason: "permission denied") }
        defer { try? fh.close() }
        var count = 0, last: UInt8? = nil
        while true {
            let chunk: Data
            do { chunk = try fh.read(upToCount: 8 << 20) ?? Data() } catch { throw FileError.unreadable(path, reason: "\(error)") }
            if chunk.isEmpty { break }
            count += chunk.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            last = chunk.last
        }
        return count + (last != nil && last != 0x0A ? 1 : 0)
    }

    /// Streams a UTF-8 file as blocks of about `blockBytes` of whole lines (without `\n` or a trailing `\r`,
    /// validated line by line), calling `body` with each block and the bytes read so far: a corpus of gigabytes
    /// in bounded memory.
    public static func forEachLineBlock(_ path: String, blockBytes: Int = 8 << 20,
                                        _ body: (_ lines: [String], _ bytesRead: Int) throws -> Void) throws {
        try checkReadable(path)
        guard let fh = FileHandle(forReadingAtPath: path) else { throw FileError.unreadable(path, reason: "permission denied") }
        defer { try? fh.close() }
        var pending: [UInt8] = [], lineNo = 1, read = 0
        while true {
            // The chunk is copied onto the pending bytes and dropped before the lines are made: one block less
            // resident at the peak.
            let got: Int
            do {
                let chunk = try fh.read(upToCount: blockBytes) ?? Data()
                pending.append(contentsOf: chunk)
                got = chunk.count
            } catch { throw FileError.unreadable(path, reason: "\(error)") }
            read += got
            let atEnd = got == 0
            // Whole lines only; the last partial line waits for the next chunk (or the end of the file).
            let end = atEnd ? pending.count : (pending.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0)
            if end == 0 && !atEnd { continue }
            var lines: [String] = []
            try pending.withUnsafeBufferPointer { buf in
                var start = 0
                func take(_ e0: Int) throws {
                    var e = e0
                    if e > start && buf[e - 1] == 0x0D { e -= 1 }
                    guard let s = String(validating: UnsafeBufferPointer(rebasing: buf[start..<e]), as: UTF8.self) else {
                        throw FileError.invalidUTF8(file: path, line: lineNo)
                    }
                    lines.append(s)
                    lineNo += 1
                }
                for i in 0..<end where buf[i] == 0x0A {
                    try take(i)
                    start = i + 1
                }
                if atEnd && start < end { try take(end) }
            }
            pending.removeFirst(end)
            if !lines.isEmpty { try body(lines, read) }
            if atEnd { return }
        }
    }

    /// The text fields of a line for tokenizer training. In a TSV file of three columns
    /// (`ref<TAB>src<TAB>tgt`, as in corpora/bible) the reference column is not text and is skipped;
    /// in other TSV files every column is text. Plain text files give the whole line.
    public static func textFields(of line: String, isTSV: Bool) -> [Substring] {
        guard isTSV else { return [Substring(line)] }
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        return fields.count == 3 ? Array(fields[1...]) : fields
    }

    /// The non-empty text fields of every line of `files`: what a tokenizer is trained on.
    public static func textFields(ofFiles files: [String]) throws -> [String] {
        var out: [String] = []
        for f in files {
            let tsv = isTSV(f)
            for line in try lines(f) { for field in textFields(of: line, isTSV: tsv) where !field.isEmpty { out.append(String(field)) } }
        }
        return out
    }

    public static func isTSV(_ path: String) -> Bool { path.lowercased().hasSuffix(".tsv") }
}
