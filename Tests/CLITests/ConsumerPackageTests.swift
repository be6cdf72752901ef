import Foundation
import Testing
import TestSupport

/// Another Swift package can depend on lmtrain by URL and version and use its decoding API: the working
/// tree is committed into a scratch git repository tagged 1.0.0, a package that depends on it `from: "1.0.0"`
/// is built (SwiftPM refuses unsafe flags in versioned dependencies whose manifest predates tools 6.2, so this
/// fails if that ever becomes true of lmtrain's), and its in-process translations must equal
/// `lmtrain translate`'s for the same run.
@Suite struct ConsumerPackageTests {
    @discardableResult
    func shell(_ command: String, in dir: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw CheckFailure("`\(command)` failed (\(p.terminationStatus)): \(text.suffix(3000))") }
        return text
    }

    struct CheckFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test func buildsAgainstATaggedVersionAndTranslatesLikeTheCLI() throws {
        let dir = temporaryDirectory("lmtrain-consumer")
        defer { try? FileManager.default.removeItem(at: dir) }
        // 1. The working tree as a tagged repository (tracked and new files, nothing git ignores).
        let repo = dir.appendingPathComponent("lmtrain")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        try shell("git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} '\(repo.path)'", in: repositoryRoot)
        try shell("git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm v1 && git tag 1.0.0", in: repo)

        // 2. The consumer package, depending on it by URL and version.
        let consumer = dir.appendingPathComponent("consumer")
        let sources = consumer.appendingPathComponent("Sources/consumer")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        let template = repositoryRoot.appendingPathComponent("Tests/CLITests/Consumer")
        let manifest = try String(contentsOf: template.appendingPathComponent("Package.swift.txt"), encoding: .utf8)
            .replacingOccurrences(of: "LMTRAIN_URL", with: repo.absoluteString)
        try manifest.write(to: consumer.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: template.appendingPathComponent("main.swift.txt"), to: sources.appendingPathComponent("main.swift"))
        try shell("swift build -q --scratch-path '\(dir.path)/build' 2>&1", in: consumer)

        // 3. A small real translation run, translated by the CLI and by the consumer.
        let corpus = try biblePairs(dir)
        let run = dir.appendingPathComponent("run").path
        let fit = try lmtrainRun(["fit", corpus, "--output", run, "--preset", "tiny", "--steps", "6", "--vocab-size", "400",
                                  "--batch-tokens", "512", "--bleu-sentences", "2"])
        try #require(fit.status == 0, "\(fit.stderr)")
        let lines = ["In the beginning God created the heavens and the earth.", "And God said"]
        let cli = try lmtrainRun(["translate", run, "--beam", "3", "--max-len-b", "5", "--min-len", "4", "--threads", "1"],
                                 stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        try #require(cli.status == 0, "\(cli.stderr)")
        let ours = try shell("'\(dir.path)/build/debug/consumer' '\(run)' " + lines.map { "'\($0)'" }.joined(separator: " "), in: dir)
        #expect(ours == cli.stdout, "consumer: \(ours.debugDescription), lmtrain translate: \(cli.stdout.debugDescription)")
        #expect(ours.split(separator: "\n").count == 2, "two non-empty translations: \(ours.debugDescription)")
    }
}
