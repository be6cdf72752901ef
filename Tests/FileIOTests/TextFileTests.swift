import Foundation
import FileIO
import Testing
import TestSupport

@Suite struct TextFileTests {
    func temp(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-text-\(UUID()).txt").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    @Test func invalidUTF8NamesFileAndLine() throws {
        let path = try temp(Array("ok\nfine\nbad \u{FF}".utf8).dropLast(2) + [0xC3, 0x28, 0x0A])
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: FileError.invalidUTF8(file: path, line: 3)) { _ = try TextFile.lines(path) }
    }

    @Test func missingFileAndDirectory() throws {
        #expect(throws: FileError.fileNotFound("/nonexistent/x.txt")) { _ = try TextFile.lines("/nonexistent/x.txt") }
        let dir = FileManager.default.temporaryDirectory.path
        #expect(throws: FileError.isDirectory(dir)) { _ = try TextFile.lines(dir) }
    }

    @Test func crlfAndMissingFinalNewline() throws {
        let path = try temp(Array("a\r\nb\nc".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try TextFile.lines(path) == ["a", "b", "c"])
    }

    /// Streaming in blocks gives the lines `lines` gives, for blocks that cut lines anywhere (1 byte, awkward
    /// sizes, more than the file), CRLF, empty lines, multi-byte characters across a cut and no final newline;
    /// a bad byte names its line whichever block it falls in.
    @Test func lineBlocksEqualLines() throws {
        let text = "a\r\nbé\n\n\nthe quick brown fox ñ 天地\nlast"
        let path = try temp(Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bad = try temp(Array("ok\nfine\nalso fine\n".utf8) + [0xC3, 0x28, 0x0A, 0x61])
        defer { try? FileManager.default.removeItem(atPath: bad) }
        for block in [1, 2, 7, 33, 257] {
            var got: [String] = [], lastRead = 0
            try TextFile.forEachLineBlock(path, blockBytes: block) { lines, read in
                #expect(read >= lastRead)
                lastRead = read
                got += lines
            }
            #expect(got == (try TextFile.lines(path)), "block \(block)")
            #expect(lastRead == text.utf8.count)
            #expect(throws: FileError.invalidUTF8(file: bad, line: 4)) { try TextFile.forEachLineBlock(bad, blockBytes: block) { _, _ in } }
        }
    }

    /// A file written in pieces is at its path only once finished: an unfinished writer dropped leaves nothing
    /// (no temporary either); a header written last at offset 0 lands in front of what was appended.
    @Test func atomicFileWriterIsAllOrNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-writer-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let w = try AtomicFileWriter(path: dir + "/dropped")
            try Array("partial".utf8).withUnsafeBytes { try w.write($0) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        let w = try AtomicFileWriter(path: dir + "/done")
        try Array("....body".utf8).withUnsafeBytes { try w.write($0) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/done"))
        try Array("head".utf8).withUnsafeBytes { try w.write($0, at: 0) }
        try w.finish()
        #expect(try String(contentsOfFile: dir + "/done", encoding: .utf8) == "headbody")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["done"])
    }

    @Test func tsvTextColumns() {
        #expect(TextFile.textFields(of: "Gen.1.1\tIn the beginning\tEn el principio", isTSV: true) == ["In the beginning", "En el principio"])
        #expect(TextFile.textFields(of: "src\ttgt", isTSV: true) == ["src", "tgt"])
        #expect(TextFile.textFields(of: "a\tb", isTSV: false) == ["a\tb"])
    }
}

@Suite struct FirstLineTests {
    /// The first non-empty line, CRLF and blank lines before it handled, a missing final newline too; a bad
    /// byte in it is an error naming its line; an empty file has none.
    @Test func firstNonEmptyLine() throws {
        let dir = temporaryDirectory("lmtrain-firstline")
        defer { try? FileManager.default.removeItem(at: dir) }
        func file(_ bytes: [UInt8]) throws -> String {
            let p = dir.appendingPathComponent(UUID().uuidString).path
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            return p
        }
        #expect(try TextFile.firstNonEmptyLine(file(Array("\n\r\na\tb\r\nc\n".utf8))) == "a\tb")
        #expect(try TextFile.firstNonEmptyLine(file(Array("only".utf8))) == "only")
        #expect(try TextFile.firstNonEmptyLine(file([])) == nil)
        let bad = try file([0x0A, 0x0A, 0xFF, 0x0A])
        #expect(throws: FileError.invalidUTF8(file: bad, line: 3)) { _ = try TextFile.firstNonEmptyLine(bad) }
        // Longer than one read: the line is whole.
        let long = String(repeating: "x", count: 200_000)
        #expect(try TextFile.firstNonEmptyLine(file(Array((long + "\nrest").utf8))) == long)
    }
}
