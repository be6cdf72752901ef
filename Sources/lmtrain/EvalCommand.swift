import ArgumentParser
import Foundation
import Kernels
import Model
import Tokenizer
import Training
import Decoding

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained language model on a text file: NLL, perplexity per token and per word, bits per byte, accuracy.",
        discussion: """
        The text (each line followed by <eos>, an <eos> in front as context) is cut into non-overlapping windows \
        of the model's context (stride = context), so each token is predicted once. Per-word perplexity is \
        exp(total NLL / whitespace-separated words); bits per byte = total NLL / ln 2 / UTF-8 bytes (newlines \
        included). The last line is one JSON object with these fields.
        """)

    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Argument(help: "Text file to evaluate.") var file: String
    @Option var batchSize: Int = 16
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let r = try LoadedRun(runDirectory, threads: threads)
        let text = try TextFile.lines(file)
        let tsv = TextFile.isTSV(file)
        let lines = text.map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
        let stream = try TokenStream.encode(lines: lines, tokenizer: r.tokenizer, threads: threads)
        guard !stream.ids.isEmpty else { throw TokenizerError.emptyCorpus([file]) }
        let T = r.config.model.context
        let t0 = Date()
        let st = StreamEvaluator.evaluate(model: r.model, ids: stream.ids, eos: r.tokenizer.id(of: .eos), B: batchSize, T: T)
        let nll = st.nll / Double(st.count)
        let perWord = exp(st.nll / Double(max(1, stream.words)))
        let bpb = st.nll / log(2) / Double(max(1, stream.bytes))
        let acc = Double(st.correct) / Double(st.count)
        say("file          \(file)")
        say("tokens        \(st.count) (\(stream.words) words, \(stream.bytes) bytes, \(stream.lines) lines)")
        say(String(format: "token NLL     %.4f nats", nll))
        say(String(format: "perplexity    %.3f per token, %.3f per word", exp(nll), perWord))
        say(String(format: "bits/byte     %.4f", bpb))
        say(String(format: "accuracy      %.2f%% (top-1 next token)", acc * 100))
        say(String(format: "context       %d tokens, stride %d; %.1f s", T, T, Date().timeIntervalSince(t0)))
        say(String(format: "{\"file\": %@, \"tokens\": %d, \"words\": %d, \"bytes\": %d, \"nll\": %.6f, \"ppl\": %.4f, \"word_ppl\": %.4f, \"bits_per_byte\": %.6f, \"accuracy\": %.6f, \"context\": %d, \"stride\": %d}",
                   jsonString(file), st.count, stream.words, stream.bytes, nll, exp(nll), perWord, bpb, acc, T, T))
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a trained language model (greedy, or sampling with temperature, top-k, top-p).")

    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "Text to continue.") var prompt: String = ""
    @Option(help: "Tokens to generate at most (stops at <eos>).") var maxTokens: Int = 100
    @Flag(help: "Always take the most likely token.") var greedy = false
    @Option var temperature: Float = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK: Int = 0
    @Option(help: "Sample from the smallest set of tokens whose probability reaches p.") var topP: Float = 0.95
    @Option var seed: UInt64 = 1
    @Option(help: "Beam search with this many hypotheses instead of sampling (length penalty α = 1).") var beam: Int?
    @Option(help: "With --beam: print this many best continuations, each with its scores.") var nbest: Int = 1
    @Option var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let beam, beam < 1 { throw ValidationError("--beam must be at least 1") }
        if nbest < 1 || nbest > (beam ?? 1) { throw ValidationError("--nbest must be between 1 and --beam") }
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if temperature < 0 { throw ValidationError("--temperature must not be negative") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if topK < 0 { throw ValidationError("--top-k must not be negative") }
    }

    func run() throws {
        let r = try LoadedRun(runDirectory, threads: threads)
        let gen = Generator(model: r.model)
        var sampler = Sampler(temperature: temperature, topK: topK, topP: topP, greedy: greedy, seed: seed)
        let eos = r.tokenizer.id(of: .eos)
        let promptIds = [eos] + (try r.tokenizer.encode(prompt))
        var out: [Int32] = []
        let banned: Set<Int32> = [r.tokenizer.id(of: .pad), r.tokenizer.id(of: .bos), r.tokenizer.id(of: .unk)]
        if let beam {
            // Beam search over the model's key/value cache; the prompt and the continuation must fit the context.
            let context = Array(promptIds.suffix(r.config.model.context - 1))
            var scorer = GPTScorer(model: r.model, prompt: context, beam: beam)
            var o = BeamOptions(eos: eos)
            o.beam = beam; o.nbest = nbest; o.banned = banned
            o.maxLength = min(maxTokens, r.config.model.context - context.count)
            for h in beamSearch(&scorer, options: o) {
                let text = try r.tokenizer.decode(h.tokens)
                say(nbest > 1 ? String(format: "%.4f\t%.4f\t%@%@", h.score, h.logProb, prompt, text) : prompt + text)
            }
            return
        }
        print(prompt, terminator: "")
        var printed = ""
        try gen.generate(prompt: promptIds, maxTokens: maxTokens) { logits in
            let id = sampler.pick(logits, vocab: r.config.model.vocabSize, banned: banned)
            if id == eos { return nil }
            out.append(id)
            // Print the text as it grows (decoding whole so multi-byte characters come out whole).
            let text = try r.tokenizer.decode(out)
            if text.hasPrefix(printed) { print(text.dropFirst(printed.count), terminator: ""); fflush(stdout) }
            printed = text
            return id
        }
        print("")
    }
}
