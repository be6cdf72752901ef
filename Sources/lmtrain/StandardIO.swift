import Foundation

/// One line of stdin as raw bytes, without the newline (and a trailing \r); nil at end of input.
func readRawLine() -> [UInt8]? {
    var ptr: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    let n = getline(&ptr, &cap, stdin)
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
        buf.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
        fflush(stdout)
        buf.removeAll(keepingCapacity: true)
    }
}

/// Appends one line to stdout now (progress bars go to stderr).
func say(_ s: String) { print(s); fflush(stdout) }

/// `s` as a JSON string literal.
func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
    let text = String(decoding: data, as: UTF8.self)
    return String(text.dropFirst().dropLast())
}
