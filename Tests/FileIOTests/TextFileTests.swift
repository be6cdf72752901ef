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
