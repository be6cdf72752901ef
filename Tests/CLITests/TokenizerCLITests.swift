import Foundation
import Testing
import TestSupport

@Suite struct TokenizerCLITests {
    let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path

    @Test func trainEncodeDecodeExport() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tok = dir.appendingPathComponent("tok.json").path
        let train = try lmtrainRun(["tokenizer", "train", tiny, "--vocab-size", "600", "--output", tok])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("merging"))

        let text = try String(contentsOfFile: tiny, encoding: .utf8)
        let enc = try lmtrainRun(["tokenizer", "encode", "--tokenizer", tok], stdin: Data(text.utf8))
        #expect(enc.status == 0)
        let inLines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let idLines = enc.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(idLines.count == inLines.count)
        #expect(idLines.allSatisfy { $0.split(separator: " ").allSatisfy { Int($0) != nil } })

        let dec = try lmtrainRun(["tokenizer", "decode", "--tokenizer", tok], stdin: Data(enc.stdout.utf8))
        #expect(dec.status == 0)
        let outLines = dec.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(outLines.count == inLines.count)
        for (a, b) in zip(inLines, outLines) { #expect(String(a).precomposedStringWithCompatibilityMapping == String(b)) }

        let exp = try lmtrainRun(["tokenizer", "export", "--tokenizer", tok, "--format", "hf", "--output", dir.appendingPathComponent("hf").path])
        #expect(exp.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("hf/tokenizer.json"))) as! [String: Any]
        let model = json["model"] as! [String: Any]
        #expect(model["type"] as? String == "BPE")
        #expect((model["vocab"] as! [String: Int]).count == 600)
        #expect(model["byte_fallback"] as? Bool == true)
        let merges = try String(contentsOf: dir.appendingPathComponent("hf/merges.txt"), encoding: .utf8)
        #expect(merges.hasPrefix("#version: 0.2\n"))
    }

    @Test func badInputFailsCleanly() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("t.json").path
        func check(_ args: [String], stdin: Data? = nil, says needle: String) throws {
            let r = try lmtrainRun(args, stdin: stdin)
            #expect(isCleanFailure(r), "\(args): status \(r.status), stderr: \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        try check(["tokenizer", "train", "/nonexistent/corpus.txt", "--output", out], says: "file not found: /nonexistent/corpus.txt")
        try check(["tokenizer", "train", dir.path, "--output", out], says: "is a directory")
        let empty = dir.appendingPathComponent("empty.txt").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data("\n  \n".utf8)))
        try check(["tokenizer", "train", empty, "--output", out], says: "no text to train on")
        let latin1 = dir.appendingPathComponent("latin1.txt").path
        #expect(FileManager.default.createFile(atPath: latin1, contents: Data([0x6F, 0x6B, 0x0A, 0x63, 0x61, 0x66, 0xE9, 0x0A])))
        try check(["tokenizer", "train", latin1, "--output", out], says: "latin1.txt:2: invalid UTF-8")
        try check(["tokenizer", "train", tiny, "--vocab-size", "100", "--output", out], says: "vocabulary size 100 is too small")

        let corrupt = dir.appendingPathComponent("corrupt.json").path
        #expect(FileManager.default.createFile(atPath: corrupt, contents: Data("{\"format\": \"lmtrain-tok".utf8)))
        try check(["tokenizer", "encode", "--tokenizer", corrupt], stdin: Data("hi\n".utf8), says: "not a valid lmtrain tokenizer file")
        try check(["tokenizer", "encode", "--tokenizer", "/nonexistent/tok.json"], stdin: Data(), says: "file not found")

        let good = dir.appendingPathComponent("good.json").path
        #expect(try lmtrainRun(["tokenizer", "train", tiny, "--vocab-size", "400", "--output", good]).status == 0)
        let future = dir.appendingPathComponent("future.json").path
        let text = try String(contentsOfFile: good, encoding: .utf8).replacingOccurrences(of: "\"version\": 1,", with: "\"version\": 7,")
        #expect(FileManager.default.createFile(atPath: future, contents: Data(text.utf8)))
        try check(["tokenizer", "decode", "--tokenizer", future], stdin: Data("5\n".utf8), says: "format version 7")
        try check(["tokenizer", "decode", "--tokenizer", good], stdin: Data("5 6\n7 x\n".utf8), says: "<stdin>:2: 'x' is not a token id")
        try check(["tokenizer", "decode", "--tokenizer", good], stdin: Data("5 99999\n".utf8), says: "outside the vocabulary")
        try check(["tokenizer", "encode", "--tokenizer", good], stdin: Data([0x61, 0x0A, 0xFF, 0x0A]), says: "<stdin>:2: invalid UTF-8")
    }
}
