// The libFuzzer driver over lmtrain's loaders. Built only by `scripts/fuzz` (LMTRAIN_FUZZ=1 adds this target to
// the package) with `-sanitize=fuzzer,address`. The target to fuzz is named by LMTRAIN_FUZZ_TARGET, so one
// instrumented binary serves them all.
import CFuzzer
import Foundation
import FuzzHarness

let env = ProcessInfo.processInfo.environment
guard let target = FuzzTarget(rawValue: env["LMTRAIN_FUZZ_TARGET"] ?? "") else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("set LMTRAIN_FUZZ_TARGET to one of: \(names)\n".utf8))
    exit(2)
}
// LMTRAIN_FUZZ_SEEDS=DIR: write the target's seed inputs there and stop (scripts/fuzz starts its corpus so).
if let dir = env["LMTRAIN_FUZZ_SEEDS"] {
    for (i, seed) in target.seeds.enumerated() {
        _ = FileManager.default.createFile(atPath: "\(dir)/seed-\(i)", contents: seed)
    }
    exit(0)
}

nonisolated(unsafe) var chosen = target
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in
    chosen.run(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}
exit(status)
