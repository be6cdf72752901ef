import ArgumentParser
import Datasets
import FileIO
import Foundation
import Model
import Runs

/// The raw output scores of a model on real text, with the ids that produced them: what an exported model is
/// compared against (scripts/interop-check does, with transformers and CTranslate2).
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Write a model's logits on the first windows (language model) or pairs (translation) of a file, as safetensors.",
        discussion: """
        Language model: the file's token stream as `eval` cuts it (an <eos> in front, lines ended by <eos>, \
        windows of the context with stride = context): input_ids I32 [W, T], lengths I32 [W] (valid positions), \
        logits F32 [W, T, V]. Translation model: the first pairs of a TSV under teacher forcing, right-padded: \
        src I32 [B, Ts] (ending in <eos>), src_lengths [B], tgt_in I32 [B, Tt] (<eos> then the target), \
        tgt_lengths [B], logits F32 [B, Tt, V].
        """)

    @OptionGroup var runOptions: RunOptions
    @Argument(help: "Text file (language model) or TSV of pairs (translation model).") var file: String
    @Option(help: "Windows (language model) or pairs (translation) to score.") var count: Int = 8
    @Option(help: "Translation: source and target columns of the TSV, 1-based (default: as in training).", transform: ColumnPair.parse)
    var columns: ColumnPair?
    @Option(help: "Output .safetensors file.") var output: String
    @OptionGroup var threading: ThreadsOption

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let dir = runOptions.runDirectory
        let d = try Run.task(of: dir) == .lm ? try languageModel(dir) : try translation(dir)
        try writeAtomically(d, to: output)
        say("wrote \(output)")
    }

    func languageModel(_ dir: String) throws -> Data {
        let r = try LoadedRun<GPT>(directory: dir, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let stream = [r.tokenizer.id(of: .eos)] + (try EvalCommand.stream(file, tokenizer: r.tokenizer, threads: threading.threads)).ids
        let T = r.model.config.context, V = r.model.config.vocabSize
        let W = min(count, (stream.count - 1 + T - 1) / T)
        var ids = [Int32](repeating: 0, count: W * T), lengths = [Int32](repeating: 0, count: W)
        for w in 0..<W {
            let n = min(T, stream.count - 1 - w * T)
            lengths[w] = Int32(n)
            for t in 0..<n { ids[w * T + t] = stream[w * T + t] }
        }
        var logits = [Float](repeating: 0, count: W * T * V)
        ids.withUnsafeBufferPointer { i in logits.withUnsafeMutableBufferPointer { r.model.logits(ids: i.baseAddress!, B: W, T: T, into: $0.baseAddress!) } }
        let out = SafeTensorsWriter()
        out.add("input_ids", shape: [W, T], ids)
        out.add("lengths", shape: [W], lengths)
        out.add("logits", shape: [W, T, V], logits)
        return try out.serialize()
    }

    func translation(_ dir: String) throws -> Data {
        let r = try LoadedRun<Seq2Seq>(directory: dir, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let tok = r.tokenizer, V = r.model.config.vocabSize
        let text = try ParallelText.load(tsv: file, columns: columns?.pair ?? r.run.data.columnPair)
        let data = try ParallelData.encode(text, tokenizer: tok, maxLength: r.model.config.maxLength, threads: threading.threads)
        guard data.count > 0 else { throw CLIError("\(file) has no usable pairs") }
        var batch = PaddedPairs()
        let pairs = Array(0..<min(count, data.count))
        batch.fill(pairs, from: data, pad: tok.id(of: .pad), eos: tok.id(of: .eos))
        let B = batch.B, Ts = batch.Ts, Tt = batch.Tt
        let src = Array(batch.src.prefix(B * Ts)), srcLengths = Array(batch.srcLengths.prefix(B)), tgtIn = Array(batch.tgtIn.prefix(B * Tt))
        let tgtLengths = pairs.map { Int32(data.targets[$0].count + 1) }
        var logits = [Float](repeating: 0, count: B * Tt * V)
        src.withUnsafeBufferPointer { s in
            srcLengths.withUnsafeBufferPointer { sl in
                tgtIn.withUnsafeBufferPointer { t in
                    logits.withUnsafeMutableBufferPointer {
                        r.model.logits(src: s.baseAddress!, srcLengths: sl.baseAddress!, tgtIn: t.baseAddress!, B: B, Ts: Ts, Tt: Tt, into: $0.baseAddress!)
                    }
                }
            }
        }
        let out = SafeTensorsWriter()
        out.add("src", shape: [B, Ts], src)
        out.add("src_lengths", shape: [B], srcLengths)
        out.add("tgt_in", shape: [B, Tt], tgtIn)
        out.add("tgt_lengths", shape: [B], tgtLengths)
        out.add("logits", shape: [B, Tt, V], logits)
        return try out.serialize()
    }
}
