import Foundation

// Corpus BLEU and chrF as sacreBLEU 2.x computes them with its defaults, so scores printed by lmtrain can
// be compared with published ones: BLEU `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp` and chrF2
// `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no`. Text is handled as Unicode scalars, as Python handles
// code points. One reference per hypothesis.

/// Corpus BLEU with its statistics.
public struct BLEUScore: Sendable {
    public let score: Double
    /// Modified n-gram precisions (percent), n = 1…4.
    public let precisions: [Double]
    public let brevityPenalty: Double
    public let hypothesisLength: Int
    public let referenceLength: Int
    public static let signature = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"

    /// "BLEU = 21.34 55.1/27.9/16.0/9.5 (BP = 0.980 ratio = 0.980 hyp_len = … ref_len = …)", as sacreBLEU prints it.
    public var formatted: String {
        let p = precisions.map { String(format: "%.1f", $0) }.joined(separator: "/")
        let ratio = referenceLength > 0 ? Double(hypothesisLength) / Double(referenceLength) : 0
        return String(format: "BLEU = %.2f %@ (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)", score, p,
                      brevityPenalty, ratio, hypothesisLength, referenceLength)
    }
}

/// BLEU's sufficient statistics of one sentence or a corpus: lengths and, per n-gram order 1…4, the clipped
/// matches and the hypothesis n-grams. They add.
public struct BLEUStatistics: Sendable, Equatable {
    public var hypothesisLength = 0, referenceLength = 0
    public var correct = [Int](repeating: 0, count: 4), total = [Int](repeating: 0, count: 4)
    public init() {}

    public static func + (a: BLEUStatistics, b: BLEUStatistics) -> BLEUStatistics {
        var s = a
        s.hypothesisLength += b.hypothesisLength
        s.referenceLength += b.referenceLength
        for n in 0..<4 { s.correct[n] += b.correct[n]; s.total[n] += b.total[n] }
        return s
    }
}

public enum Metrics {
    /// Corpus BLEU of hypotheses against references (equal counts, checked by the caller).
    public static func bleu(hypotheses: [String], references: [String]) -> BLEUScore {
        bleu(of: bleuStatistics(hypotheses: hypotheses, references: references).reduce(BLEUStatistics(), +))
    }

    /// Each sentence's BLEU sufficient statistics (sacreBLEU's `_extract_corpus_statistics`): corpus BLEU
    /// is the BLEU of their sum, so a resampled corpus (the paired bootstrap) costs a sum, not a re-tokenisation.
    public static func bleuStatistics(hypotheses: [String], references: [String]) -> [BLEUStatistics] {
        precondition(hypotheses.count == references.count)
        return zip(hypotheses, references).map { h, r in
            let ht = tokenize13a(rstrip(h)), rt = tokenize13a(rstrip(r))
            var s = BLEUStatistics()
            s.hypothesisLength = ht.count
            s.referenceLength = rt.count
            for n in 1...4 {
                guard ht.count >= n else { continue }
                var refCounts: [ArraySlice<String>: Int] = [:]
                if rt.count >= n { for i in 0...(rt.count - n) { refCounts[rt[i..<(i + n)], default: 0] += 1 } }
                var hypCounts: [ArraySlice<String>: Int] = [:]
                for i in 0...(ht.count - n) { hypCounts[ht[i..<(i + n)], default: 0] += 1 }
                for (g, c) in hypCounts {
                    s.total[n - 1] += c
                    if let rc = refCounts[g] { s.correct[n - 1] += min(c, rc) }
                }
            }
            return s
        }
    }

    /// BLEU of summed statistics.
    public static func bleu(of s: BLEUStatistics) -> BLEUScore {
        bleuFromStatistics(correct: s.correct, total: s.total, sysLen: s.hypothesisLength, refLen: s.referenceLength)
    }

    /// sacreBLEU's `compute_bleu` with exp smoothing (mteval's method 3).
    static func bleuFromStatistics(correct: [Int], total: [Int], sysLen: Int, refLen: Int) -> BLEUScore {
        var bp = 1.0
        if sysLen < refLen { bp = sysLen > 0 ? exp(1 - Double(refLen) / Double(sysLen)) : 0 }
        var precisions = [Double](repeating: 0, count: 4)
        if correct.allSatisfy({ $0 == 0 }) {
            return BLEUScore(score: 0, precisions: precisions, brevityPenalty: bp, hypothesisLength: sysLen, referenceLength: refLen)
        }
        var smooth = 1.0
        for n in 0..<4 {
            if total[n] == 0 { break }
            if correct[n] == 0 {
                smooth *= 2
                precisions[n] = 100 / (smooth * Double(total[n]))
            } else {
                precisions[n] = 100 * Double(correct[n]) / Double(total[n])
            }
        }
        // A zero precision (an order with no n-grams at all) floors its log, as sacreBLEU's my_log does.
        let logSum = precisions.reduce(0.0) { $0 + ($1 == 0 ? -9_999_999_999 : log($1)) }
        let score = bp * exp(logSum / 4)
        return BLEUScore(score: score, precisions: precisions, brevityPenalty: bp, hypothesisLength: sysLen, referenceLength: refLen)
    }

    /// chrF with β = 2 over character n-grams 1…6, whitespace removed, corpus statistics summed over
    /// sentences, precision and recall averaged over the orders that have n-grams on both sides.
    public static func chrF(hypotheses: [String], references: [String], order: Int = 6, beta: Double = 2) -> Double {
        precondition(hypotheses.count == references.count)
        var stats = [Int](repeating: 0, count: 3 * order)   // per order: hyp, ref, match
        for (h, r) in zip(hypotheses, references) {
            let hc = h.unicodeScalars.filter { !isPythonWhitespace($0) }.map(\.value)
            let rc = r.unicodeScalars.filter { !isPythonWhitespace($0) }.map(\.value)
            for n in 1...order {
                var refCounts: [ArraySlice<UInt32>: Int] = [:]
                var refTotal = 0
                if rc.count >= n { for i in 0...(rc.count - n) { refCounts[rc[i..<(i + n)], default: 0] += 1; refTotal += 1 } }
                var hypTotal = 0, match = 0
                if hc.count >= n {
                    var hypCounts: [ArraySlice<UInt32>: Int] = [:]
                    for i in 0...(hc.count - n) { hypCounts[hc[i..<(i + n)], default: 0] += 1 }
                    for (g, c) in hypCounts {
                        hypTotal += c
                        if let rcount = refCounts[g] { match += min(c, rcount) }
                    }
                }
                // sacreBLEU counts no hypothesis n-grams where the reference has none of that order.
                stats[3 * (n - 1)] += refCounts.isEmpty ? 0 : hypTotal
                stats[3 * (n - 1) + 1] += refTotal
                stats[3 * (n - 1) + 2] += match
            }
        }
        let factor = beta * beta
        var avgP = 0.0, avgR = 0.0, effective = 0
        for n in 0..<order {
            let nh = stats[3 * n], nr = stats[3 * n + 1], nm = stats[3 * n + 2]
            if nh > 0 && nr > 0 {
                avgP += Double(nm) / Double(nh)
                avgR += Double(nm) / Double(nr)
                effective += 1
            }
        }
        if effective == 0 { return 0 }
        avgP /= Double(effective); avgR /= Double(effective)
        if avgP + avgR == 0 { return 0 }
        return 100 * (1 + factor) * avgP * avgR / (factor * avgP + avgR)
    }

    public static let chrFSignature = "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"

    // MARK: - 13a tokenisation

    /// mteval-v13a's tokenisation as sacreBLEU implements it: unescape four HTML entities, pad with spaces,
    /// then four regular-expression passes (applied here as the same left-to-right, non-overlapping scans),
    /// then split on whitespace.
    public static func tokenize13a(_ line: String) -> [String] {
        var s = line.replacingOccurrences(of: "<skipped>", with: "")
            .replacingOccurrences(of: "-\n", with: "").replacingOccurrences(of: "\n", with: " ")
        if s.contains("&") {
            s = s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        }
        var x = Array((" " + s + " ").unicodeScalars)
        // 1. Punctuation and symbols of ASCII (not ' , - . or alphanumerics) become separate tokens.
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(x.count * 2)
        for c in x {
            if isSeparatedSymbol(c) { out.append(" "); out.append(c); out.append(" ") } else { out.append(c) }
        }
        x = out
        // 2. ([^0-9])([.,]) → "\1 \2 "
        x = substitutePairs(x, first: { !isDigit($0) }, second: { $0 == "." || $0 == "," }) { a, b in [a, " ", b, " "] }
        // 3. ([.,])([^0-9]) → " \1 \2"
        x = substitutePairs(x, first: { $0 == "." || $0 == "," }, second: { !isDigit($0) }) { a, b in [" ", a, " ", b] }
        // 4. ([0-9])(-) → "\1 \2 "
        x = substitutePairs(x, first: isDigit, second: { $0 == "-" }) { a, b in [a, " ", b, " "] }
        var tokens: [String] = []
        var cur = String.UnicodeScalarView()
        for c in x {
            if isPythonWhitespace(c) {
                if !cur.isEmpty { tokens.append(String(cur)); cur = String.UnicodeScalarView() }
            } else { cur.append(c) }
        }
        if !cur.isEmpty { tokens.append(String(cur)) }
        return tokens
    }

    /// Python's `re.sub` for a two-character pattern: scan left to right, replace each non-overlapping match.
    static func substitutePairs(_ x: [Unicode.Scalar], first: (Unicode.Scalar) -> Bool, second: (Unicode.Scalar) -> Bool,
                                _ replace: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(x.count + x.count / 2)
        var i = 0
        while i < x.count {
            if i + 1 < x.count && first(x[i]) && second(x[i + 1]) {
                out += replace(x[i], x[i + 1])
                i += 2
            } else {
                out.append(x[i])
                i += 1
            }
        }
        return out
    }

    /// The character class [{-~[-` -&(-+:-@/] of sacreBLEU's first pass.
    static func isSeparatedSymbol(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
        default: return false
        }
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { (0x30...0x39).contains(c.value) }

    /// Python's str.split() separators: Unicode White_Space plus the ASCII information separators.
    static func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }

    static func rstrip(_ s: String) -> String {
        var v = s.unicodeScalars
        while let last = v.last, isPythonWhitespace(last) { v.removeLast() }
        return String(v)
    }
}
