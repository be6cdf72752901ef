import FileIO
import Foundation

/// Lines from a file or standard input, read as they come (so `translate` streams), each checked to be
/// UTF-8 (an error names the line).
final class LineSource {
    let handle: FileHandle
    let name: String
    var buffer: [UInt8] = []
    var eof = false
    var lineNo = 0

    init(path: String?) throws {
        if let path {
            try TextFile.checkReadable(path)   // missing, directory, unreadable: clear errors
            guard let h = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
            handle = h; name = path
        } else {
            handle = FileHandle.standardInput; name = "standard input"
        }
    }

    /// Up to `n` lines; fewer only at the end of the input.
    func next(_ n: Int) throws -> [String] {
        var out: [String] = []
        while out.count < n {
            if let nl = buffer.firstIndex(of: 0x0A) {
                out.append(try decode(Array(buffer[..<nl])))
                buffer.removeSubrange(...nl)
                continue
            }
            if eof {
                if !buffer.isEmpty { out.append(try decode(buffer)); buffer = [] }
                break
            }
            // Return what is complete rather than wait for a full batch when input is interactive.
            if !out.isEmpty && isatty(handle.fileDescriptor) != 0 { break }
            let d = handle.availableData
            if d.isEmpty { eof = true } else { buffer += d }
        }
        return out
    }

    private func decode(_ bytes: [UInt8]) throws -> String {
        lineNo += 1
        var b = bytes
        if b.last == 0x0D { b.removeLast() }
        guard let s = String(validating: b, as: UTF8.self) else {
            throw CLIError("\(name) line \(lineNo) is not valid UTF-8: convert the input to UTF-8 (e.g. with iconv)")
        }
        return s
    }
}
