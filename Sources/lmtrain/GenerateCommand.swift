import ArgumentParser
import Decoding
import Foundation
import Kernels
import Model
import Runs

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a trained language model (greedy, or sampling with temperature, top-k, top-p).")

    @OptionGroup var runOptions: RunOptions
    @Option(help: "Text to continue.") var prompt: String = ""
    @Option(help: "Tokens to generate at most (stops at <eos>).") var maxTokens: Int = 100
    @Flag(help: "Always take the most likely token.") var greedy = false
    @Option var temperature: Float = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK: Int = 0
    @Option(help: "Sample from the smallest set of tokens whose probability reaches p.") var topP: Float = 0.95
    @Option var seed: UInt64 = 1
    @Option(help: "Beam search with this many hypotheses instead of sampling (length penalty α = 1).") var beam: Int?
    @Option(help: "With --beam: print this many best continuations, each with its scores.") var nbest: Int = 1
    @Option(help: "Products: fp32 (weights packed once) or int8 (weights quantised per output column, activations per row).")
    var computeType: ComputeType = .fp32
    @OptionGroup var threading: ThreadsOption

    func validate() throws {
        if let beam, beam < 1 { throw ValidationError("--beam must be at least 1") }
        if nbest < 1 || nbest > (beam ?? 1) { throw ValidationError("--nbest must be between 1 and --beam") }
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if temperature < 0 { throw ValidationError("--temperature must not be negative") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if topK < 0 { throw ValidationError("--top-k must not be negative") }
    }

    func run() throws {
        let r = try LoadedRun<GPT>(directory: runOptions.runDirectory, threads: threading.threads, checkpoint: runOptions.checkpoint)
        let tok = r.tokenizer, eos = tok.id(of: .eos), context = r.model.config.context
        let promptIds = [eos] + (try tok.encode(prompt))
        let banned: Set<Int32> = [tok.id(of: .pad), tok.id(of: .bos), tok.id(of: .unk)]
        if let beam {
            // Beam search over the model's key/value cache; the prompt and the continuation must fit the context.
            let kept = Array(promptIds.suffix(context - 1))
            var scorer = GPTScorer(model: r.model, prompt: kept, beam: beam,
                                   weights: GPTInferenceWeights(model: r.model, computeType: computeType))
            var o = BeamOptions(eos: eos)
            o.beam = beam; o.nbest = nbest; o.banned = banned
            o.maxLength = min(maxTokens, context - kept.count)
            for h in beamSearch(&scorer, options: o) {
                let text = try tok.decode(h.tokens)
                say(nbest > 1 ? String(format: "%.4f\t%.4f\t%@%@", h.score, h.logProb, prompt, text) : prompt + text)
            }
            return
        }
        var sampler = Sampler(temperature: temperature, topK: topK, topP: topP, greedy: greedy, banned: banned, seed: seed)
        var out: [Int32] = []
        print(prompt, terminator: "")
        var printed = ""
        try Generator(model: r.model, computeType: computeType).generate(prompt: promptIds, maxTokens: maxTokens) { logits in
            let id = sampler.pick(logits, vocab: r.model.config.vocabSize, tokens: out)
            if id == eos { return nil }
            out.append(id)
            // Print the text as it grows (decoding whole so multi-byte characters come out whole).
            let text = try tok.decode(out)
            if text.hasPrefix(printed) { print(text.dropFirst(printed.count), terminator: ""); flushOutput() }
            printed = text
            return id
        }
        print("")
    }
}
