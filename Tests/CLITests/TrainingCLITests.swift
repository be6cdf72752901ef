import Foundation
import Testing
import TestSupport

@Suite struct TrainingCLITests {
    let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path

    @Test func fitEvalGenerateAndResume() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let fit = try CLITests.run(["fit", tiny, "--output", run, "--preset", "tiny", "--context", "32", "--steps", "12",
                                    "--vocab-size", "500", "--eval-every", "6", "--log-every", "3", "--batch-size", "4"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stderr.contains("train: 100% 12/12"))
        for f in ["config.json", "tokenizer.json", "metrics.jsonl", "model.safetensors", "optimizer.safetensors", "curves.svg"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + f), "\(f) missing")
        }
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = records.filter { $0["split"] == nil }, valids = records.filter { $0["split"] as? String == "valid" }
        #expect(steps.map { $0["step"] as! Int } == [1, 3, 6, 9, 12])
        #expect(steps.allSatisfy { r in ["loss", "nll", "lr", "tokens_per_s"].allSatisfy { r[$0] is Double } })
        #expect(valids.map { $0["step"] as! Int } == [6, 12])
        #expect(valids.allSatisfy { ($0["ppl"] as? Double ?? 0) > 1 })

        let ev = try CLITests.run(["eval", run, tiny])
        #expect(ev.status == 0, "\(ev.stderr)")
        let last = ev.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let obj = try JSONSerialization.jsonObject(with: Data(last.utf8)) as! [String: Any]
        for k in ["nll", "ppl", "word_ppl", "bits_per_byte", "accuracy"] { #expect(obj[k] is Double, "\(k)") }
        #expect(abs(exp(obj["nll"] as! Double) - (obj["ppl"] as! Double)) < 1e-2 * (obj["ppl"] as! Double))

        let gen = try CLITests.run(["generate", run, "--prompt", "In the beginning", "--max-tokens", "8", "--greedy"])
        #expect(gen.status == 0 && gen.stdout.hasPrefix("In the beginning"), "\(gen.stderr)")

        // Training again into the same directory is refused: the earlier model would be lost.
        let twice = try CLITests.run(["fit", tiny, "--output", run, "--preset", "tiny", "--steps", "2"])
        #expect(isCleanFailure(twice) && twice.stderr.contains("already holds a run"), "\(twice.stderr)")
        // Resuming a finished run changes nothing and says so.
        let again = try CLITests.run(["fit", "--resume", run])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("done at step 12"))
    }

    @Test func badInputFailsCleanly() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        func check(_ args: [String], says needle: String) throws {
            let r = try CLITests.run(args)
            #expect(isCleanFailure(r), "\(args): status \(r.status), stderr: \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        let run = dir.appendingPathComponent("run").path
        try check(["fit", "/nonexistent/corpus.txt", "--output", run], says: "file not found")
        let latin1 = dir.appendingPathComponent("latin1.txt").path
        #expect(FileManager.default.createFile(atPath: latin1, contents: Data([0x6F, 0x6B, 0x0A, 0x63, 0x61, 0x66, 0xE9, 0x0A])))
        try check(["fit", latin1, "--output", run], says: "latin1.txt:2: invalid UTF-8")
        let small = dir.appendingPathComponent("small.txt").path
        #expect(FileManager.default.createFile(atPath: small, contents: Data("one short line\nand another\n".utf8)))
        try check(["fit", small, "--valid", small, "--output", run, "--vocab-size", "300"], says: "too few for one batch")
        try check(["fit", tiny, "--output", "/proc/lmtrain-forbidden/run"], says: "cannot write to")
        try check(["fit", tiny, "--output", run, "--preset", "tiny", "--heads", "3"], says: "not divisible by heads")
        try check(["fit", tiny, "--output", run, "--time", "soon"], says: "is not a duration")
        try check(["fit", tiny, "--output", run, "--matmul-precision", "fp16"], says: "'fp16' is invalid for '--matmul-precision")
        try check(["fit", tiny, "--output", run, "--bpe-dropout", "0.1"], says: "--bpe-dropout is for translation runs")
        try check(["fit", tiny, "--output", run, "--task", "translate", "--bpe-dropout", "1.5"], says: "--bpe-dropout must be in [0, 1)")
        #expect(!FileManager.default.fileExists(atPath: run + "/config.json"), "a failed fit left a run behind")
        try check(["fit", tiny, "--output", run, "--preset", "tiny", "--context", "16", "--steps", "30", "--lr", "10000",
                   "--clip", "0", "--vocab-size", "400", "--batch-size", "4"], says: "is not finite")
        try check(["fit", "--resume", dir.appendingPathComponent("nothing").path], says: "is not an lmtrain run directory")
        try check(["eval", dir.path, tiny], says: "is not an lmtrain run directory")

        // A good run, then break it in the ways a user might.
        let good = dir.appendingPathComponent("good").path
        #expect(try CLITests.run(["fit", tiny, "--output", good, "--preset", "tiny", "--context", "16", "--steps", "2",
                                  "--vocab-size", "400", "--batch-size", "4"]).status == 0)
        let other = dir.appendingPathComponent("other.json").path
        #expect(try CLITests.run(["tokenizer", "train", tiny, "--vocab-size", "350", "--output", other]).status == 0)
        let tokPath = good + "/tokenizer.json"
        let saved = try Data(contentsOf: URL(fileURLWithPath: tokPath))
        try FileManager.default.removeItem(atPath: tokPath)
        try FileManager.default.copyItem(atPath: other, toPath: tokPath)
        try check(["eval", good, tiny], says: "the tokenizer has 350 tokens but the model expects 400")
        try saved.write(to: URL(fileURLWithPath: tokPath))
        let model = good + "/model.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: model))
        try check(["eval", good, tiny], says: "corrupt or truncated")
        try check(["generate", good, "--prompt", "x"], says: "corrupt or truncated")
    }
}

@Suite struct MatmulPrecisionCLITests {
    /// bf16 products where the CPU has AVX512-BF16 or AMX-BF16 (recorded in the run, kept on resume); a one-line
    /// refusal where it has neither.
    @Test func bf16WhereAvailableAndAClearRefusalElsewhere() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path
        let args = ["fit", tiny, "--output", run, "--preset", "tiny", "--context", "16", "--steps", "4",
                    "--vocab-size", "400", "--batch-size", "4", "--matmul-precision", "bf16", "--checkpoint-every", "2"]
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let hasBF16 = cpuinfo.contains(" amx_bf16") || cpuinfo.contains(" avx512_bf16")
        let r = try CLITests.run(args)
        guard hasBF16 else {
            #expect(isCleanFailure(r) && r.stderr.contains("needs AVX512-BF16 or AMX-BF16"), "\(r.stderr)")
            return
        }
        #expect(r.status == 0 && r.stderr.contains("bf16 matrix products"), "\(r.stderr)")
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"matmulPrecision\" : \"bf16\""), "\(config)")
        let again = try CLITests.run(["fit", "--resume", run])
        #expect(again.status == 0 && again.stderr.contains("done at step 4"), "\(again.stderr)")
    }
}

enum CLITests {
    static func run(_ args: [String]) throws -> CLIResult { try lmtrainRun(args) }
}

@Suite struct InterruptTests {
    /// Ctrl-C during `fit` saves a checkpoint and exits cleanly; `--resume` then continues from it to the end,
    /// and the weights equal, bit for bit, those of the same run never interrupted.
    @Test func ctrlCSavesACheckpointAndResumeMatchesAnUninterruptedRun() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path
        let steps = 3000
        func args(_ run: String) -> [String] {
            ["fit", tiny, "--output", run, "--preset", "tiny", "--context", "16", "--steps", "\(steps)", "--vocab-size", "400",
             "--batch-size", "4", "--log-every", "1", "--eval-every", "1000", "--checkpoint-every", "1000", "--threads", "1"]
        }
        let straight = dir.appendingPathComponent("straight").path, run = dir.appendingPathComponent("run").path
        let reference = try lmtrainRun(args(straight))
        try #require(reference.status == 0, "\(reference.stderr)")

        let p = Process()
        p.executableURL = lmtrainBinary()
        p.arguments = args(run)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait until a few steps are logged, then interrupt.
        let metrics = run + "/metrics.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: metrics, encoding: .utf8), s.split(separator: "\n").count >= 5 { break }
            usleep(20_000)
        }
        p.interrupt()
        // If the interrupt were lost the run would go on to its end: fail fast instead.
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        killer.cancel()
        #expect(p.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("interrupted at step"), "\(stderr)")
        #expect(stderr.contains("lmtrain fit --resume"))
        let stopped = try #require(stderr.range(of: "interrupted at step ").map { Int(stderr[$0.upperBound...].prefix { $0.isNumber }) ?? -1 })
        try #require(stopped > 0 && stopped < steps, "interrupted at step \(stopped) of \(steps): the run must stop midway")

        let resumed = try lmtrainRun(["fit", "--resume", run, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming") && resumed.stderr.contains("done at step \(steps)"), "\(resumed.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: straight + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors"))
        #expect(a == b, "interrupted at step \(stopped) and resumed: the weights differ from the uninterrupted run's")
        // The metrics of the resumed run neither repeat nor skip a step.
        let logged = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["split"] == nil }.compactMap { $0["step"] as? Int }
        #expect(logged == Array(1...steps), "training steps logged: \(logged.count), first \(logged.prefix(3)), around the stop \(logged.filter { abs($0 - stopped) < 3 })")
    }
}

@Suite struct RunLockTests {
    /// One trainer per run directory: while a `fit` trains, a `--resume` of its run is refused with one line
    /// naming the trainer's pid; once that trainer is killed (SIGKILL, so it cannot clean up), the lock it left
    /// is taken over and the run trains on from its last checkpoint.
    @Test func aRunInUseIsRefusedAndAKilledTrainersLockIsTakenOver() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path
        let run = dir.appendingPathComponent("run").path
        func start(_ args: [String], stderr path: String) throws -> Process {
            let p = Process()
            p.executableURL = lmtrainBinary()
            p.arguments = args
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        /// Waits (≤ 60 s) until `done` holds; false if it never did.
        func waitFor(_ done: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline { if done() { return true }; usleep(20_000) }
            return false
        }
        func steps() -> Int { ((try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count }
        let first = try start(["fit", tiny, "--output", run, "--preset", "tiny", "--context", "16", "--steps", "1000000",
                               "--vocab-size", "400", "--batch-size", "4", "--log-every", "1", "--checkpoint-every", "20",
                               "--threads", "1"], stderr: dir.appendingPathComponent("first.err").path)
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
        try #require(waitFor { steps() >= 50 }, "the first trainer never logged 50 steps")

        let refused = try lmtrainRun(["fit", "--resume", run, "--threads", "1"])
        #expect(isCleanFailure(refused) && refused.stderr.contains("is in use by lmtrain process \(first.processIdentifier)"), "\(refused.stderr)")
        #expect(first.isRunning, "the refused resume stopped the trainer")

        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let killedAt = steps()
        let secondErr = dir.appendingPathComponent("second.err").path
        let second = try start(["fit", "--resume", run, "--threads", "1"], stderr: secondErr)
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() } }
        let log = { (try? String(contentsOfFile: secondErr, encoding: .utf8)) ?? "" }
        // It takes the lock over (saying whose it was) and trains: new steps reach metrics.jsonl.
        #expect(waitFor { steps() >= killedAt + 10 }, "the resumed trainer did not train: \(log())")
        #expect(log().contains("took over the lock of lmtrain process \(first.processIdentifier)"), "\(log())")
        second.interrupt()
        second.waitUntilExit()
        #expect(second.terminationStatus == 0, "\(log())")
    }
}
