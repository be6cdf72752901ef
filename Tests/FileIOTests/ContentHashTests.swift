import Foundation
import FileIO
import Testing
import TestSupport

@Suite struct ContentHashTests {
    func temp(_ bytes: [UInt8]) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-hash-\(UUID()).bin").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Equal bytes hash equal; one flipped bit anywhere (first word, a word past the first 1 MiB block, the
    /// odd tail) or a trailing zero byte changes the hash. 1 MiB + 13 bytes crosses a block boundary.
    @Test func changesWithAnyByteAndTheLength() throws {
        var bytes = (0..<(1 << 20) + 13).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let a = temp(bytes), b = temp(bytes)
        defer { for p in [a, b] { try? FileManager.default.removeItem(atPath: p) } }
        let base = try contentHash(ofFile: a)
        #expect(try contentHash(ofFile: b) == base)
        var seen: Set<UInt64> = [base]
        for i in [0, 5, (1 << 20) + 3, bytes.count - 1] {
            bytes[i] ^= 0x10
            let p = temp(bytes)
            defer { try? FileManager.default.removeItem(atPath: p) }
            #expect(seen.insert(try contentHash(ofFile: p)).inserted, "flipping byte \(i) kept the hash")
            bytes[i] ^= 0x10
        }
        let longer = temp(bytes + [0]), empty = temp([]), zero = temp([0])
        defer { for p in [longer, empty, zero] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(seen.insert(try contentHash(ofFile: longer)).inserted)
        #expect(try contentHash(ofFile: empty) != contentHash(ofFile: zero))
        #expect(throws: FileError.self) { _ = try contentHash(ofFile: "/nonexistent/file") }
    }
}
