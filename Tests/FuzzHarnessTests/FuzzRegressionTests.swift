import Foundation
import Testing
import FuzzHarness

/// Replays what fuzzing left behind: Inputs/TARGET holds, per target, the crashers found (named crash-*, each
/// a bug that was fixed) and a minimised corpus that reaches the loader's branches (scripts/fuzz TARGET
/// --minimize writes it). Any of them crashing again fails the whole test run, which is the point.
/// Serialized: the harness shares one scratch directory and one model per process.
@Suite(.serialized) struct FuzzRegressionTests {
    static let inputs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Inputs")

    @Test(arguments: FuzzTarget.allCases)
    func seedsAreAccepted(target: FuzzTarget) {
        let seeds = target.seeds
        #expect(!seeds.isEmpty)
        for (i, seed) in seeds.enumerated() { #expect(target.run(seed), "seed \(i) of \(target.rawValue) was refused") }
    }

    @Test(arguments: FuzzTarget.allCases)
    func savedInputsReplay(target: FuzzTarget) throws {
        let dir = Self.inputs.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        // Every target has fuzzed inputs committed; an empty or missing folder is a mistake, not a pass.
        #expect(names.count >= 5, "\(dir.path) holds \(names.count) inputs")
        var accepted = 0
        for name in names {
            if target.run(try Data(contentsOf: dir.appendingPathComponent(name))) { accepted += 1 }
        }
        // Most fuzzed inputs are refused, but a corpus that never gets past the first check tests nothing.
        #expect(accepted > 0, "no saved input of \(target.rawValue) was accepted")
    }
}
