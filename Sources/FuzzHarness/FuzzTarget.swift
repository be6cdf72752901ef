import Foundation
import Datasets
import Kernels
import Model
import Runs
import Tokenizer
import Training

/// The loaders that read what users and other processes hand lmtrain, each as one function of arbitrary bytes.
/// `scripts/fuzz` drives them under libFuzzer with address sanitizer (`Fuzz/Entry/main.swift`); FuzzHarnessTests
/// replays the seeds and every crasher found as regression inputs in the ordinary test run.
///
/// A loader may refuse its input with an error: that is the expected outcome for most of them. What must never
/// happen is a trap (overflow, index out of range), a sanitizer report, a hang, or an accepted input that breaks
/// a promise the loader makes (checked with `precondition`, so a broken promise is a crash libFuzzer keeps).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A weights or optimizer file: the 8-byte header length, the JSON header and tensor table, the tensor data,
    /// and loading it into a model (WeightsFile) and as a checkpoint's optimizer (with the training-state JSON).
    case safetensors
    /// RUN/tokenizer.json, then encoding and decoding a sentence with what it accepted.
    case tokenizerFile = "tokenizer-file"
    /// RUN/config.json (versions 1 and 2, both tasks) and the run's validation of it.
    case runConfig = "run-config"
    /// Parallel text: a TSV file (first byte even) or two line-aligned files (odd; split at the first NUL byte),
    /// then encoding, length buckets and a padded batch of what was accepted.
    case parallelData = "parallel-data"
    /// The tokenizer's encode on arbitrary bytes (decoded as UTF-8 with replacement), deterministic and with
    /// BPE-dropout: never `<unk>`, ids inside the vocabulary, decode(encode(s)) == normalize(s).
    case encode

    /// Runs the target on one input; true when the loader accepted it (the regression tests check that the
    /// seeds reach past the first refusal). Not thread-safe (one scratch directory per process), as libFuzzer calls it.
    @discardableResult
    public func run(_ data: Data) -> Bool {
        switch self {
        case .safetensors: return Self.safetensors(data)
        case .tokenizerFile: return Self.tokenizerFile(data)
        case .runConfig: return Self.runConfig(data)
        case .parallelData: return Self.parallelData(data)
        case .encode: return Self.encode(data)
        }
    }

    // MARK: - Targets

    static func safetensors(_ data: Data) -> Bool {
        let path = Scratch.write(data, as: "weights.safetensors")
        let file = try? SafeTensors(path: path)
        if let f = file {
            for (name, e) in f.entries {
                switch e.dtype {
                case .f32: precondition((try? f.floats(name))?.count == e.count, "an accepted F32 tensor did not read back")
                case .i32: precondition((try? f.int32s(name))?.count == e.count, "an accepted I32 tensor did not read back")
                }
            }
        }
        // The same bytes as a model's weights, and as the optimizer file of a run whose weights are valid.
        _ = try? WeightsFile.load(path: path, into: Fixtures.model)
        let run = Scratch.run()
        Scratch.put(Fixtures.weights, at: RunPaths(run).weights)
        Scratch.put(data, at: RunPaths(run).optimizer)
        if let state = try? Checkpoint.loadState(run: run) {
            precondition(state.step == 0, "an optimizer file was taken for the weights of another step")
            _ = try? Checkpoint.loadOptimizer(run: run, into: Fixtures.optimizer, count: Fixtures.model.layout.count, weightsStep: 0)
        }
        return file != nil
    }

    static func tokenizerFile(_ data: Data) -> Bool {
        guard let t = try? TokenizerFile.parse(data, path: "tokenizer.json") else { return false }
        let sentence = "In the beginning, God créa 天地 — 42 ¡sí! \u{1F600}"
        guard let ids = try? t.encode(sentence) else { preconditionFailure("an accepted tokenizer cannot encode") }
        precondition(ids.allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize }, "an id outside the vocabulary")
        _ = try? t.decode(ids)
        // What was accepted writes back to a file that loads to the same tokenizer.
        let again = try? TokenizerFile.parse(Data(TokenizerFile.serialize(t).utf8), path: "again.json")
        precondition(again.map { TokenizerFile.serialize($0) == TokenizerFile.serialize(t) } ?? false,
                     "an accepted tokenizer does not survive save and load")
        return true
    }

    static func runConfig(_ data: Data) -> Bool {
        let run = Scratch.run()
        Scratch.put(data, at: RunPaths(run).config)
        guard let r = try? Run.load(directory: run) else { return false }
        // What fit --resume, translate and eval read from an accepted configuration.
        _ = r.problem
        _ = r.data.columnPair
        _ = r.data.inputs
        _ = RunPaths(run).tokenizer(r)
        // Every command sizes the model it loads (and prints its parameters) before allocating it.
        precondition(r.model.parameterCount > 0, "an accepted model shape has no parameters")
        // A configuration that passed validation writes back and loads to an equal run.
        if r.problem == nil {
            let back = Scratch.run()
            precondition((try? r.save(directory: back)) != nil, "a valid run configuration could not be written")
            precondition((try? Run.load(directory: back)) == r, "a valid run configuration changed through save and load")
        }
        return true
    }

    static func parallelData(_ data: Data) -> Bool {
        guard let first = data.first else { return false }
        let rest = data.dropFirst()
        let text: ParallelText?
        if first % 2 == 0 {
            text = try? ParallelText.load(tsv: Scratch.write(Data(rest), as: "pairs.tsv"))
        } else {
            let cut = rest.firstIndex(of: 0) ?? rest.endIndex
            let src = Scratch.write(Data(rest[..<cut]), as: "pairs.src")
            let tgt = Scratch.write(Data(rest[cut...].dropFirst()), as: "pairs.tgt")
            text = try? ParallelText.load(source: src, target: tgt)
        }
        guard let text else { return false }
        precondition(text.sources.count == text.targets.count, "sources and targets of different counts")
        let tok = Fixtures.tokenizer
        guard let d = try? ParallelData.encode(text, tokenizer: tok, maxLength: 64, threads: 1, dropout: Double(first % 4) / 8, seed: 1)
        else { preconditionFailure("accepted text failed to encode") }
        precondition(d.count + d.skippedLong == text.sources.count, "pairs lost in encoding")
        let buckets = LengthBuckets(data: d, maxTokens: 256)
        precondition(buckets.batches.reduce(0) { $0 + $1.count } == d.count, "length buckets lost or repeated a pair")
        var batch = PaddedPairs()
        for b in buckets.order(epoch: 1, seed: 7).prefix(3) {
            batch.fill(buckets.batches[b], from: d, pad: tok.id(of: .pad), eos: tok.id(of: .eos))
        }
        return true
    }

    static func encode(_ data: Data) -> Bool {
        let tok = Fixtures.tokenizer
        let text = String(decoding: data, as: UTF8.self)
        var rng = SplitMix64(seed: UInt64(data.count))
        var encoded = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let s = String(line)
            guard let normalized = try? tok.normalization.apply(s) else { continue }
            encoded = true
            for dropout in [0.0, 0.3] {
                guard let ids = try? tok.encode(s, dropout: dropout, using: &rng) else {
                    preconditionFailure("encode refused text that normalizes")
                }
                precondition(!ids.contains(tok.id(of: .unk)), "encode produced <unk>")
                precondition(ids.allSatisfy { $0 >= 0 && Int($0) < tok.vocabularySize }, "an id outside the vocabulary")
                precondition((try? tok.decode(ids)) == normalized, "decode(encode(s)) is not normalize(s)")
            }
        }
        return encoded
    }
}
