import Foundation

/// A 64-bit hash of a file's bytes, read in 1 MiB blocks (memory stays bounded for a corpus of gigabytes):
/// what caches derived from a file are keyed by. Size and modification time are not enough: an edit that
/// keeps the size within one second of the last (a script rewriting a corpus) would reuse stale ids.
/// Not cryptographic: eight bytes at a time through a multiply–rotate mix (wyhash-like constants), then the
/// length, so equal prefixes of different lengths differ.
public func contentHash(ofFile path: String) throws -> UInt64 {
    guard let h = FileHandle(forReadingAtPath: path) else { throw FileError.unreadable(path, reason: "it cannot be opened") }
    defer { try? h.close() }
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var total: UInt64 = 0
    func mix(_ x: UInt64) {
        state = (state ^ x) &* 0xA076_1D64_78BD_642F
        state = (state << 29 | state >> 35) &* 0xE703_7ED1_A0B4_28DB
    }
    while true {
        let block = h.readData(ofLength: 1 << 20)
        if block.isEmpty { break }
        total &+= UInt64(block.count)
        block.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { mix(raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
            var tail: UInt64 = 0
            for (k, b) in raw[(8 * words)...].enumerated() { tail |= UInt64(b) << (8 * UInt64(k)) }
            if raw.count % 8 != 0 { mix(tail ^ 0xFF) }
        }
    }
    mix(total)
    return state
}
