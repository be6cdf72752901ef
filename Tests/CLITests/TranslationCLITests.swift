import Foundation
import Testing
import TestSupport

@Suite struct TranslationCLITests {
    /// fit infers the translation task from a TSV, writes a run, translates streaming with empty lines kept,
    /// n-best in the documented format, scores against references, and resumes.
    @Test func fitTranslateScoreAndResume() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try biblePairs(dir)
        let run = dir.appendingPathComponent("run").path
        let fit = try lmtrainRun(["fit", corpus, "--output", run, "--preset", "tiny", "--steps", "8", "--vocab-size", "400",
                                  "--eval-every", "4", "--log-every", "2", "--batch-tokens", "512", "--bleu-sentences", "3",
                                  "--checkpoint-every", "4", "--keep-checkpoints", "2"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stderr.contains("encoder–decoder") && fit.stderr.contains("train: 100% 8/8"), "\(fit.stderr)")
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(metrics.filter { $0["split"] as? String == "valid" }.allSatisfy { $0["bleu"] is Double && $0["nll"] is Double })

        let input = "In the beginning God created the heavens and the earth.\n\nAnd God said\n"
        let tr = try lmtrainRun(["translate", run, "--beam", "3", "--batch-size", "2", "--max-len-b", "5"], stdin: Data(input.utf8))
        #expect(tr.status == 0, "\(tr.stderr)")
        let out = tr.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(out.count == 4 && out[1].isEmpty && out[3].isEmpty, "one line per input line, the empty one empty: \(out)")
        #expect(tr.stderr.contains("sentences/s"))

        // Checkpoint averaging: the two kept snapshots (steps 4 and 8) average into a file translate can use.
        let tooMany = try lmtrainRun(["average", run, "--last", "3"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("holds 2 checkpoint(s)"), "\(tooMany.stderr)")
        let avg = try lmtrainRun(["average", run, "--last", "2"])
        #expect(avg.status == 0 && avg.stdout.contains("averaged steps 4, 8"), "\(avg.stdout)\(avg.stderr)")
        let tra = try lmtrainRun(["translate", run, "--checkpoint", run + "/model.averaged.safetensors", "--max-len-b", "5"],
                                 stdin: Data(input.utf8))
        #expect(tra.status == 0 && tra.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 4, "\(tra.stderr)")
        let missing = try lmtrainRun(["translate", run, "--checkpoint", run + "/nope.safetensors"], stdin: Data(input.utf8))
        #expect(missing.status != 0 && missing.stderr.contains("no weights file"), "\(missing.stderr)")

        let nb = try lmtrainRun(["translate", run, "--beam", "3", "--nbest", "2", "--max-len-b", "5"], stdin: Data(input.utf8))
        let rows = nb.stdout.split(separator: "\n").map { $0.components(separatedBy: " ||| ") }
        #expect(rows.count == 5 && rows.allSatisfy { $0.count == 4 }, "\(nb.stdout)")
        #expect(rows.map { $0[0] } == ["0", "0", "1", "2", "2"])
        #expect(Double(rows[0][2])! >= Double(rows[1][2])!, "n-best sorted by score")

        let hyp = dir.appendingPathComponent("hyp.txt").path, ref = dir.appendingPathComponent("ref.txt").path
        try "En el principio creó Dios los cielos y la tierra\ny dijo Dios : Sea la luz\n".write(toFile: hyp, atomically: true, encoding: .utf8)
        try "En el principio crió Dios los cielos y la tierra.\nY dijo Dios: Sea la luz: y fué la luz.\n".write(toFile: ref, atomically: true, encoding: .utf8)
        let sc = try lmtrainRun(["score", "--ref", ref, hyp])
        #expect(sc.status == 0 && sc.stdout.contains("tok:13a|smooth:exp") && sc.stdout.contains("chrF2 = "), "\(sc.stdout)\(sc.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(sc.stdout.split(separator: "\n").last!.utf8)) as! [String: Any]
        #expect((json["bleu"] as! Double) > 0 && (json["chrf2"] as! Double) > 0)

        // Teacher-forced evaluation with calibration, and the reliability diagram.
        let ev = try lmtrainRun(["eval", run, corpus])
        #expect(ev.status == 0, "\(ev.stderr)")
        let evj = try JSONSerialization.jsonObject(with: Data(ev.stdout.split(separator: "\n").last!.utf8)) as! [String: Any]
        for k in ["nll", "ppl", "accuracy", "ece", "mce", "confidence", "entropy", "temperature", "nll_scaled", "ece_scaled"] {
            #expect(evj[k] is Double, "eval JSON lacks \(k)")
        }
        #expect((evj["bins"] as? [[String: Any]])?.count == 15)
        // --tokens: one JSON line per pair, as many tokens in all as eval counted.
        let dump = dir.appendingPathComponent("tokens.jsonl").path
        let evt = try lmtrainRun(["eval", run, corpus, "--no-calibration", "--tokens", dump])
        #expect(evt.status == 0, "\(evt.stderr)")
        let lines = try String(contentsOfFile: dump, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        // Pairs are numbered among the file's non-empty ones, so over-long pairs leave gaps.
        let numbers = lines.map { $0["pair"] as! Int }
        #expect(lines.count == evj["pairs"] as? Int && numbers == numbers.sorted() && Set(numbers).count == numbers.count)
        #expect(lines.reduce(0) { $0 + ($1["ids"] as! [Int]).count } == evj["tokens"] as? Int)
        #expect(lines.allSatisfy { ($0["p"] as! [Double]).count == ($0["ids"] as! [Int]).count && ($0["correct"] as! [Int]).count == ($0["ids"] as! [Int]).count })
        #expect(FileManager.default.fileExists(atPath: run + "/calibration.json") && FileManager.default.fileExists(atPath: run + "/reliability.svg"))
        try FileManager.default.removeItem(atPath: run + "/reliability.svg")
        let plot = try lmtrainRun(["plot", run])
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: run + "/reliability.svg"), "\(plot.stderr)")

        // Resume with a new budget: one beyond the run's step is honoured (and recorded), others are refused,
        // and so is anything that would change what is trained.
        let same = try lmtrainRun(["fit", "--resume", run, "--steps", "8"])
        #expect(isCleanFailure(same) && same.stderr.contains("at step 8 already"), "\(same.stderr)")
        let fixed = try lmtrainRun(["fit", "--resume", run, "--dropout", "0.3"])
        #expect(isCleanFailure(fixed) && fixed.stderr.contains("--dropout cannot change when resuming"), "\(fixed.stderr)")
        let spent = try lmtrainRun(["fit", "--resume", run, "--time", "0.001s"])
        #expect(isCleanFailure(spent) && spent.stderr.contains("give a --time longer than that"), "\(spent.stderr)")
        let longer = try lmtrainRun(["fit", "--resume", run, "--steps", "12"])
        #expect(longer.status == 0 && longer.stderr.contains("budget changed from 8 steps to 12 steps at step 8")
                && longer.stderr.contains("done at step 12"), "\(longer.stderr)")
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"steps\" : 12"), "\(config)")
    }

    @Test func badTranslationInputFailsCleanly() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try biblePairs(dir, lines: 40)
        func file(_ name: String, _ text: String) throws -> String {
            let p = dir.appendingPathComponent(name).path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        // A TSV line with the wrong number of columns: the line is named.
        let ragged = try file("ragged.tsv", "a\tb\tc\nd\te\nf\tg\th\n")
        let r1 = try lmtrainRun(["fit", ragged, "--output", dir.appendingPathComponent("r1").path, "--preset", "tiny"])
        #expect(isCleanFailure(r1) && r1.stderr.contains("ragged.tsv:2 has 2 tab-separated columns"), "\(r1.stderr)")
        // Two parallel files of different lengths.
        let src = try file("a.en", "one\ntwo\nthree\n"), tgt = try file("a.es", "uno\ndos\n")
        let r2 = try lmtrainRun(["fit", "--source", src, "--target", tgt, "--output", dir.appendingPathComponent("r2").path])
        #expect(isCleanFailure(r2) && r2.stderr.contains("has 3 lines but") && r2.stderr.contains("has 2"), "\(r2.stderr)")
        // Impossible columns.
        let r3 = try lmtrainRun(["fit", corpus, "--columns", "2,7", "--output", dir.appendingPathComponent("r3").path])
        #expect(isCleanFailure(r3) && r3.stderr.contains("--columns 2,7"), "\(r3.stderr)")
        // score: references and hypotheses of different lengths.
        let h = try file("h.txt", "a\nb\n"), rf = try file("r.txt", "a\n")
        let r4 = try lmtrainRun(["score", "--ref", rf, h])
        #expect(isCleanFailure(r4) && r4.stderr.contains("must be aligned"), "\(r4.stderr)")
        // A language-model run given to translate, and a translation run given to generate.
        let lm = dir.appendingPathComponent("lm").path
        let fitLM = try lmtrainRun(["fit", repoRoot.appendingPathComponent("corpora/tiny/tiny.txt").path, "--output", lm,
                                    "--preset", "tiny", "--context", "16", "--steps", "2", "--vocab-size", "400", "--batch-size", "2"])
        #expect(fitLM.status == 0, "\(fitLM.stderr)")
        let r5 = try lmtrainRun(["translate", lm], stdin: Data("hello\n".utf8))
        #expect(isCleanFailure(r5) && r5.stderr.contains("is a language-model run, not a translation model"), "\(r5.stderr)")
        let mt = dir.appendingPathComponent("mt").path
        let fitMT = try lmtrainRun(["fit", corpus, "--output", mt, "--preset", "tiny", "--steps", "2", "--vocab-size", "400",
                                    "--bleu-sentences", "0", "--batch-tokens", "256"])
        #expect(fitMT.status == 0, "\(fitMT.stderr)")
        // Each task gets its own defaults: the translation recipe's warm-up, validation interval and β2.
        func trainOptions(_ run: String) throws -> [String: Any] {
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as! [String: Any]
            return config["train"] as! [String: Any]
        }
        let lmTrain = try trainOptions(lm), mtTrain = try trainOptions(mt)
        #expect(lmTrain["warmup"] as? Int == 100 && lmTrain["evalEvery"] as? Int == 200 && lmTrain["beta2"] as? Double == 0.95, "\(lmTrain)")
        #expect(mtTrain["warmup"] as? Int == 450 && mtTrain["evalEvery"] as? Int == 1000 && mtTrain["beta2"] as? Double == 0.98, "\(mtTrain)")
        // bf16 products by default for translation where the CPU has a bf16 kernel; the LM stays FP32 (nil: fp32).
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let hasBF16 = cpuinfo.contains(" amx_bf16") || cpuinfo.contains(" avx512_bf16")
        #expect(mtTrain["matmulPrecision"] as? String == (hasBF16 ? "bf16" : "fp32") && lmTrain["matmulPrecision"] == nil, "\(mtTrain)")
        let r6 = try lmtrainRun(["generate", mt, "--prompt", "x"])
        #expect(isCleanFailure(r6) && r6.stderr.contains("is a translation model"), "\(r6.stderr)")
        // Non-UTF-8 input to translate names the line.
        let r7 = try lmtrainRun(["translate", mt], stdin: Data([0x68, 0x69, 0x0A, 0xFF, 0xFE, 0x0A]))
        #expect(isCleanFailure(r7) && r7.stderr.contains("line 2 is not valid UTF-8"), "\(r7.stderr)")
        // A missing input file.
        let r8 = try lmtrainRun(["translate", mt, "--input", dir.appendingPathComponent("nope.txt").path])
        #expect(isCleanFailure(r8) && r8.stderr.contains("nope.txt"), "\(r8.stderr)")
    }
}
