import Foundation
import Testing
@testable import Tokenizer

@Suite struct TokenizerFileTests {
    @Test func saveAndLoadRoundTrip() throws {
        let tok = try bibleTokenizer()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-tok-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TokenizerFile.save(tok, to: path)
        let back = try TokenizerFile.load(path)
        #expect(back.vocabulary == tok.vocabulary)
        #expect(back.merges.map { [$0.0, $0.1, $0.2] } == tok.merges.map { [$0.0, $0.1, $0.2] })
        #expect(back.normalization == tok.normalization)
        for line in try textLines("tiny/tiny.txt") { #expect(try back.encode(line) == (try tok.encode(line))) }
        // Readable by a person: one piece per line.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\n    \"▁the\",\n"))
    }

    func parse(_ s: String) throws -> BPETokenizer { try TokenizerFile.parse(Data(s.utf8), path: "t.json") }

    @Test func corruptFilesAreRejectedWithTheirReason() throws {
        let good = TokenizerFile.serialize(try bibleTokenizer())
        #expect { try parse("not json") } throws: { "\($0)".contains("it is not JSON") }
        #expect { try parse(String(good.prefix(good.count / 2))) } throws: { "\($0)".contains("it is not JSON") }
        #expect(throws: TokenizerError.unsupportedVersion("t.json", found: 99, supported: 1)) {
            try parse(good.replacingOccurrences(of: "\"version\": 1,", with: "\"version\": 99,"))
        }
        #expect { try parse(good.replacingOccurrences(of: "lmtrain-tokenizer", with: "other")) } throws: {
            "\($0)".contains("\"format\"")
        }
        #expect { try parse(good.replacingOccurrences(of: "\"vocab_size\": 8000", with: "\"vocab_size\": 8001")) } throws: {
            "\($0)".contains("truncated")
        }
        #expect { try parse(good.replacingOccurrences(of: "\"<0x41>\"", with: "\"A-byte\"")) } throws: {
            "\($0)".contains("byte token")
        }
    }
}
