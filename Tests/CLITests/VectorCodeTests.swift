import Foundation
import Testing

/// Guards against scalar code slipping into the kernels: without the right CPU flag Swift lowers SIMD
/// multiply-adds to scalar `fmaf` calls, ~100× slower, and nothing else would notice. Disassembles the
/// release binary (objdump from binutils, installed by scripts/setup).
@Suite struct VectorCodeTests {
    func disassembly(ofSymbolsMatching needle: String) throws -> [String: String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["objdump", "-d", "--no-show-raw-insn", lmtrainBinary().path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "objdump failed: is binutils installed? (scripts/setup installs it)")
        var result: [String: String] = [:]
        var current: String? = nil
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasSuffix(">:"), let lt = line.firstIndex(of: "<") {
                let name = String(line[line.index(after: lt)..<line.index(line.endIndex, offsetBy: -2)])
                current = name.contains(needle) ? name : nil
                if let current { result[current] = "" }
            } else if let c = current {
                result[c]! += line + "\n"
            }
        }
        return result
    }

    func count(_ pattern: String, in text: String) -> Int {
        text.split(separator: "\n").filter { $0.range(of: pattern, options: .regularExpression) != nil }.count
    }

    @Test func gemmMicroKernelsUseVectorFMAs() throws {
        // The 6×16 AVX2 kernel issues 12 ymm FMAs per k step; the 12×32 AVX-512 one 24 zmm FMAs.
        let avx2 = try disassembly(ofSymbolsMatching: "microKernel6x16")
        let avx512 = try disassembly(ofSymbolsMatching: "microKernel12x32")
        #expect(!avx2.isEmpty && !avx512.isEmpty)
        let avx2Text = avx2.values.joined(), avx512Text = avx512.values.joined()
        #expect(count("vfmadd[0-9]+ps.*ymm", in: avx2Text) >= 12)
        #expect(count("vfmadd[0-9]+ps.*zmm", in: avx512Text) >= 24)
        #expect(count("call.*fmaf", in: avx2Text + avx512Text) == 0)
    }

    @Test func elementwiseKernelsAreVectorised() throws {
        // Softmax/cross-entropy rows, LayerNorm and GELU: vector FMAs present, no libm exp/fmaf in the loops.
        for name in ["rowSumExp", "crossEntropy", "layerNormForward", "geluForward"] {
            let fns = try disassembly(ofSymbolsMatching: name)
            let text = fns.values.joined()
            #expect(!fns.isEmpty, "\(name) not found")
            #expect(count("vfmadd[0-9]+ps.*ymm", in: text) >= 1, "\(name) has no vector FMA")
            #expect(count("call.*<fmaf", in: text) == 0, "\(name) calls fmaf")
        }
    }
}
