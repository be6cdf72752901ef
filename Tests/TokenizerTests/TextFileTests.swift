import Foundation
import FileIO
import Testing
@testable import Tokenizer

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
