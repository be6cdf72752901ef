import Foundation

/// The C library's standard input, read through with `getline` (Swift 6 sees C's `stdin` as shared mutable
/// state; this process reads it from one thread only).
nonisolated(unsafe) let standardInput: UnsafeMutablePointer<FILE> = fdopen(0, "r")

/// Flushes what `print` has buffered for standard output (and every other C output stream).
func flushOutput() { fflush(nil) }

/// One line of stdin as raw bytes, without the newline (and a trailing \r); nil at end of input.
func readRawLine() -> [UInt8]? {
    var ptr: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    let n = getline(&ptr, &cap, standardInput)
    defer { free(ptr) }
    if n < 0 { return nil }
    var bytes = Array(UnsafeRawBufferPointer(start: ptr, count: n))
    if bytes.last == 0x0A { bytes.removeLast() }
    if bytes.last == 0x0D { bytes.removeLast() }
    return bytes
}

/// Buffered stdout: a write per line would dominate encoding time.
struct OutputBuffer {
    private var buf: [UInt8] = []
    mutating func write(_ s: String) {
        buf.append(contentsOf: s.utf8)
        if buf.count > 1 << 16 { flush() }
    }
    mutating func flush() {
        flushOutput()   // what print() buffered goes first
        FileHandle.standardOutput.write(Data(buf))
        buf.removeAll(keepingCapacity: true)
    }
}

/// Appends one line to stdout now (progress bars go to stderr).
func say(_ s: String) { print(s); flushOutput() }

/// `s` as a JSON string literal.
func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
    let text = String(decoding: data, as: UTF8.self)
    return String(text.dropFirst().dropLast())
}

/// Prints `value` as one line of JSON (snake_case keys, sorted): the last line of commands that report numbers.
func sayJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.keyEncodingStrategy = .convertToSnakeCase
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    say(String(decoding: try enc.encode(value), as: UTF8.self))
}
