import Foundation
import Kernels
import Model
import Testing
import Runs
import Training

/// `--time` runs on the clock: the learning rate decays over seconds, and the run stops at its budget even when
/// the machine's speed changes mid-run. A fake clock makes this exact. With validations and checkpoints pushed
/// past the run, the loop reads the clock twice before its first step and twice per step (at its start and its
/// end), so even reads are step starts: the clock advances by the current step time after each of them.
@Suite struct TimeBudgetTests {
    let config = GPTConfig(vocabSize: 50, context: 16, dModel: 32, layers: 2, heads: 4, dropout: 0.1)

    func options(budget: Double) -> TrainOptions {
        var o = TrainOptions()
        o.timeBudget = budget; o.batchSize = 4; o.lr = 3e-3; o.warmup = 5
        o.evalEvery = 1_000_000; o.checkpointEvery = 1_000_000; o.logEvery = 1; o.threads = 2; o.evalTokens = 256
        return o
    }

    final class FakeClock: @unchecked Sendable {
        var now = 1000.0, reads = 0
        var stepTime: (Int) -> Double
        var stepsSeen = 0
        init(stepTime: @escaping (Int) -> Double) { self.stepTime = stepTime }
        func read() -> Double {
            let t = now
            if reads % 2 == 0 { now += stepTime(stepsSeen) }   // the first read (the run's start) stands for set-up
            reads += 1
            return t
        }
    }

    func trainer(run: String, budget: Double, resume: Bool, clock: FakeClock, logEvery: Int = 1) throws -> Trainer {
        let train = syntheticStream(vocab: 50, length: 3000, seed: 1), valid = syntheticStream(vocab: 50, length: 300, seed: 2)
        var o = options(budget: budget)
        o.logEvery = logEvery
        let t = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: o, run: run,
                            train: train, valid: valid, eos: 3, prior: nil, resume: resume)
        t.clock = clock.read
        return t
    }

    @Test func scheduleFollowsTheClock() {
        let s = TimeBudgetSchedule(peak: 1, warmup: 10, budget: 100)
        #expect(s.warmupFraction(step: 4, elapsed: 1) == 0.5)            // steps lead
        #expect(s.warmupFraction(step: 0, elapsed: 5) == 0.5)            // time leads: a tenth of the budget caps it
        #expect(s.lr(step: 4, elapsed: 1, warmupEnded: nil) == 0.5)
        #expect(s.lr(step: 50, elapsed: 10, warmupEnded: 10) == 1)
        #expect(abs(s.lr(step: 60, elapsed: 55, warmupEnded: 10) - 0.55) < 1e-6)   // half way: (0.1 + 1) / 2
        #expect(abs(s.lr(step: 99, elapsed: 100, warmupEnded: 10) - 0.1) < 1e-6)
        #expect(abs(s.lr(step: 99, elapsed: 130, warmupEnded: 10) - 0.1) < 1e-6)   // past the budget: the floor
    }

    /// Steps take 1 s, then 3 s from step 30 (the machine got busy): a schedule fixed from the early speed would
    /// have planned ~100 steps and ended at ~40 % of its decay; the clock schedule ends at the budget, at its floor.
    @Test func aRunSlowedMidwayEndsAtItsBudgetWithTheRateDecayed() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let clock = FakeClock { $0 < 30 ? 1 : 3 }
        let t = try trainer(run: run, budget: 100, resume: false, clock: clock)
        var lrs: [Float] = []
        _ = try t.run(shouldStop: { false }) { e in if case .step(let r) = e { lrs.append(r.lr); clock.stepsSeen = r.step } }
        // 30 steps of 1 s and ~23 of 3 s, ending within half a step of the budget.
        #expect(t.state.step >= 50 && t.state.step <= 55, "steps: \(t.state.step)")
        #expect(abs(t.state.elapsed - 100) <= 3, "elapsed \(t.state.elapsed) s of a 100 s budget")
        #expect(lrs.last! < 0.12 * 3e-3, "last rate \(lrs.last!)")
        let decay = lrs.drop(while: { $0 < 3e-3 })
        #expect(zip(decay, decay.dropFirst()).allSatisfy { $0 >= $1 }, "the rate rises after the warm-up")
    }

    /// The step that spends the budget is logged even off the log interval, so metrics.jsonl ends at the
    /// run's last step.
    @Test func theLastStepIsLogged() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let t = try trainer(run: run, budget: 20, resume: false, clock: FakeClock { _ in 1 }, logEvery: 7)
        var logged: [Int] = []
        _ = try t.run(shouldStop: { false }) { e in if case .step(let r) = e { logged.append(r.step) } }
        #expect(t.state.step % 7 != 0 && logged.last == t.state.step, "steps \(t.state.step), logged \(logged)")
        #expect(logged.dropLast().allSatisfy { $0 == 1 || $0 % 7 == 0 })
    }

    /// A time-budgeted checkpoint of an older lmtrain (a step count fixed from its early speed, no warm-up time)
    /// resumes on the clock where its decay was, not back at the peak rate.
    @Test func anOlderTimeBudgetedCheckpointKeepsItsPlaceInTheDecay() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let clock = FakeClock { _ in 1 }
        let a = try trainer(run: run, budget: 100, resume: false, clock: clock)
        var seen = 0
        _ = try a.run(shouldStop: { seen >= 40 }) { e in if case .step = e { seen += 1 } }
        var old = a.state
        old.totalSteps = 100; old.warmupEnded = nil
        try Checkpoint.save(run: run, model: a.model, optimizer: a.optimizer, state: old)
        clock.reads = 0
        let b = try trainer(run: run, budget: 100, resume: true, clock: clock)
        let ended = try #require(b.state.warmupEnded)
        #expect(abs(ended - old.elapsed * 5 / 40) < 1e-9, "warm-up of 5 of the 40 steps placed at \(ended) s of \(old.elapsed)")
        let rate = Trainer.learningRate(b.options, step: 40, elapsed: old.elapsed, warmupEnded: ended)
        #expect(rate < 0.9 * 3e-3 && rate > 0.5 * 3e-3, "rate \(rate)")
    }

    /// An interrupted time-budgeted run resumes with its clock: the time already spent and the end of the
    /// warm-up come back from the checkpoint, and the two sittings together end at the budget.
    @Test func aResumedRunKeepsItsClock() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let clock = FakeClock { _ in 1 }
        let a = try trainer(run: run, budget: 60, resume: false, clock: clock)
        var seen = 0
        #expect(try a.run(shouldStop: { seen >= 20 }) { e in if case .step = e { seen += 1 } } == .interrupted)
        let spent = a.state.elapsed, warm = a.state.warmupEnded
        #expect(warm != nil && spent >= 19 && spent <= 24, "spent \(spent)")
        clock.now += 5000   // the machine was off for a while: that is not the run's time
        clock.reads = 0
        let b = try trainer(run: run, budget: 60, resume: true, clock: clock)
        #expect(b.state.elapsed == spent && b.state.warmupEnded == warm)
        _ = try b.run(shouldStop: { false }) { _ in }
        #expect(abs(b.state.elapsed - 60) <= 1.5 && b.state.step >= 57 && b.state.step <= 61, "elapsed \(b.state.elapsed), steps \(b.state.step)")
    }
}
