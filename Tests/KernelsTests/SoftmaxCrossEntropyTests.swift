import Foundation
import Testing
import Kernels
import TestSupport

@Suite struct SoftmaxTests {
    static let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]

    /// Fast vs Double reference, awkward widths, logits spread over ±20; poisoned outputs.
    /// Tolerance: 2e-6 absolute + 1e-5 relative for probabilities, 1e-5 + 1e-5·|x| for log-probabilities.
    @Test(arguments: [1, 7, 33, 257, 4099])
    func softmaxAndLogSoftmaxMatchReference(cols: Int) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for rows in [1, 7, 33] {
            let x = Buffer(random: rows * cols, &rng, scale: 20)
            let ref = Buffer(rows * cols), out = Buffer(rows * cols)
            softmaxRowsNaive(out: ref.p, input: x.p, rows: rows, cols: cols)
            softmaxRows(out: out.p, input: x.p, rows: rows, cols: cols, pool: Self.pools[rows % 2])
            #expect(worstError(out, ref, atol: 2e-6, rtol: 1e-5) <= 1, "seed \(seed) softmax \(rows)×\(cols)")
            logSoftmaxRowsNaive(out: ref.p, input: x.p, rows: rows, cols: cols)
            out.poison()
            logSoftmaxRows(out: out.p, input: x.p, rows: rows, cols: cols, pool: Self.pools[rows % 2])
            #expect(worstError(out, ref, atol: 1e-5, rtol: 1e-5) <= 1, "seed \(seed) log-softmax \(rows)×\(cols)")
            // In place.
            let y = x.copy()
            softmaxRows(out: y.p, input: y.p, rows: rows, cols: cols)
            softmaxRowsNaive(out: ref.p, input: x.p, rows: rows, cols: cols)
            #expect(worstError(y, ref, atol: 2e-6, rtol: 1e-5) <= 1, "seed \(seed) in place")
        }
    }

    @Test func vectorExpIsAccurate() {
        var rng = SplitMix64(seed: testSeed())
        var worst: Double = 0
        for _ in 0..<20000 {
            let x = Float.random(in: -87...88, using: &rng)
            let rel = abs(Double(sexp(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))
            worst = max(worst, rel)
        }
        #expect(worst < 4e-7)
        #expect(sexp(0) == 1)
        #expect(sexp(-.infinity) < 1e-37 && sexp(.infinity).isFinite)
    }
}

@Suite struct CrossEntropyTests {
    static let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]

    /// Fast vs Double reference for every convention, awkward V, several ε, a quarter of the rows ignored,
    /// the gradient written in place; logits poisoned? No: they are the input, so the gradient must cover
    /// every element (ignored rows become zeros). Tolerances: loss sums 1e-5 relative; gradient 1e-6 + 1e-4 rel.
    @Test(arguments: SmoothingStyle.allCases)
    func matchesReference(style: SmoothingStyle) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for V in [1, 2, 7, 33, 257, 8195] {
            for eps: Float in [0, 0.1, 0.3] {
                let rows = Int.random(in: 1...40, using: &rng)
                let logits = Buffer(random: rows * V, &rng, scale: 8)
                var targets = (0..<rows).map { _ in Int32.random(in: 0..<Int32(V), using: &rng) }
                for r in 0..<rows where Int.random(in: 0..<4, using: &rng) == 0 { targets[r] = -100 }
                var u = (0..<V).map { _ in Float.random(in: 0.01...1, using: &rng) }
                let su = u.reduce(0, +)
                u = u.map { $0 / su }
                let refGrad = Buffer(rows * V)
                let ref = crossEntropyNaive(logits: logits.p, targets: targets, rows: rows, vocab: V, smoothing: eps,
                                            style: style, prior: u, grad: refGrad.p, gradScale: 0.37)
                let z = logits.copy()
                let conf = Buffer(rows)
                let got = crossEntropy(logits: z.p, targets: targets, rows: rows, vocab: V, smoothing: eps, style: style,
                                       prior: u, gradScale: 0.37, rowConfidence: conf.p, pool: Self.pools[V % 2])
                let ctx = "seed \(seed) \(style) V \(V) ε \(eps) rows \(rows)"
                #expect(got.count == ref.count && got.correct == ref.correct, "\(ctx)")
                #expect(abs(got.loss - ref.loss) <= 1e-5 * max(1, abs(ref.loss)), "\(ctx): loss \(got.loss) vs \(ref.loss)")
                #expect(abs(got.nll - ref.nll) <= 1e-5 * max(1, abs(ref.nll)), "\(ctx): nll")
                #expect(abs(got.confidence - ref.confidence) <= 1e-5 * max(1, ref.confidence), "\(ctx): confidence")
                #expect(worstError(z, refGrad, atol: 1e-6, rtol: 1e-4) <= 1, "\(ctx): gradient")
                // Forward only leaves the logits alone and gives the same stats.
                let z2 = logits.copy()
                let fwd = crossEntropy(logits: z2.p, targets: targets, rows: rows, vocab: V, smoothing: eps, style: style,
                                       prior: u, gradScale: nil)
                #expect(z2.array == logits.array && fwd == got, "\(ctx): forward only")
            }
        }
    }

    @Test func conventionsDifferOnSmallVocabulary() {
        // With V = 5 the three conventions must give different losses for the same logits (else a test
        // comparing them against PyTorch could not tell them apart).
        let z = Buffer([1.5, -0.5, 0.25, 2.0, -1.0])
        let u: [Float] = [0.4, 0.3, 0.1, 0.1, 0.1]
        let losses = SmoothingStyle.allCases.map { s in
            z.withCopy { crossEntropy(logits: $0, targets: [3], rows: 1, vocab: 5, smoothing: 0.2, style: s, prior: u, gradScale: nil).loss }
        }
        #expect(Set(losses.map { ($0 * 1e6).rounded() }).count == 3)
    }

    @Test func epsilonZeroIsPlainNegativeLogLikelihood() {
        var rng = SplitMix64(seed: testSeed())
        let z = Buffer(random: 9 * 11, &rng, scale: 4)
        let t: [Int32] = [0, 1, 2, 3, 4, 5, 6, 7, 10]
        let st = z.withCopy { crossEntropy(logits: $0, targets: t, rows: 9, vocab: 11, smoothing: 0, gradScale: nil) }
        #expect(abs(st.loss - st.nll) < 1e-9)
        #expect(st.loss > 0)
    }
}

@Suite struct CalibrationKernelTests {
    /// Per-row NLL and confidence at several temperatures, correctness and entropy, against the Double
    /// reference, on awkward vocabulary sizes with outputs poisoned first and an ignored row.
    @Test(arguments: [1, 7, 33, 257])
    func calibrationRowsMatchReference(V: Int) {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let rows = 9
        let logits = Buffer(random: rows * V, &rng)
        for i in 0..<(rows * V) { logits[i] *= 3 }
        var targets = (0..<rows).map { _ in Int32(Int.random(in: 0..<V, using: &rng)) }
        // Make one row's argmax the target, so both outcomes of `correct` are exercised.
        let best = (0..<V).max { logits[2 * V + $0] < logits[2 * V + $1] }!
        targets[2] = Int32(best)
        targets[5] = -100
        let temps: [Float] = [0.5, 1, 2.5]
        let nT = temps.count
        let nll = Buffer(rows * nT), conf = Buffer(rows * nT), correct = Buffer(rows), ent = Buffer(rows)
        nll.poison(); conf.poison(); correct.poison(); ent.poison()
        calibrationRows(logits: logits.p, targets: targets, rows: rows, vocab: V, temperatures: temps, count: nT,
                        nll: nll.p, confidence: conf.p, correct: correct.p, entropy: ent.p)
        for r in 0..<rows where r != 5 {
            let ref = calibrationRowsNaive(logits: logits.p + r * V, targets: [targets[r]], rows: 1, vocab: V, temperatures: temps)
            for k in 0..<nT {
                #expect(abs(Double(nll[r * nT + k]) - ref.nll[k]) < 1e-4 + 1e-4 * ref.nll[k], "seed \(seed) V \(V) row \(r) T \(temps[k]) nll")
                #expect(abs(Double(conf[r * nT + k]) - ref.confidence[k]) < 1e-5, "seed \(seed) V \(V) row \(r) T \(temps[k]) confidence")
            }
            #expect(Double(correct[r]) == ref.correct[0], "seed \(seed) V \(V) row \(r) correct")
            #expect(abs(Double(ent[r]) - ref.entropy[0]) < 1e-4, "seed \(seed) V \(V) row \(r) entropy")
        }
        #expect(correct[2] == 1)
        #expect(nll[5 * nT].isNaN && correct[5].isNaN, "ignored rows are marked NaN")
    }
}
