import Export
import Foundation
import Model
import Runs
import Testing
import TestSupport
import Tokenizer

/// A run directory holding a small randomly initialised model of either task, with a tokenizer trained on
/// the bundled bible (what `lmtrain fit` leaves, minus the training).
private func makeRun(_ shape: (Int) -> ModelShape, seed: UInt64) throws -> (dir: String, model: TrainableModel) {
    let dir = temporaryDirectory("lmtrain-export").path
    let lines = try String(contentsOfFile: corpusPath("bible/web.en.valid.txt"), encoding: .utf8).split(separator: "\n").map(String.init)
    let tok = try BPETrainer.train(lines: lines, options: BPETrainingOptions(vocabularySize: 400))
    try TokenizerFile.save(tok, to: dir + "/tokenizer.json")
    let s = shape(tok.vocabularySize)
    let run = Run(model: s, train: TrainOptions(task: s.task), data: { var d = DataOptions(); d.corpus = "corpus.txt"; return d }())
    try run.save(directory: dir)
    let model: TrainableModel
    switch s {
    case .gpt(let c): model = GPT(config: c)
    case .seq2seq(let c): model = Seq2Seq(config: c)
    }
    model.initialize(seed: seed)
    // Random biases and gains too, so a bias or a LayerNorm put in the wrong place cannot go unnoticed.
    var rng = SeededGenerator(seed: seed)
    for t in model.layout.tensors where t.shape.count == 1 {
        for i in 0..<t.count { model.params.base[t.offset + i] = Float(rng.next() % 2001) / 1000 - 1 }
    }
    try WeightsFile.serialize(model, step: 7).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    return (dir, model)
}

private let gptShape: (Int) -> ModelShape = { .gpt(GPTConfig(vocabSize: $0, context: 16, dModel: 12, layers: 2, heads: 3)) }
private let seq2seqShape: (Int) -> ModelShape = {
    .seq2seq(Seq2SeqConfig(vocabSize: $0, maxLength: 20, dModel: 12, encoderLayers: 2, decoderLayers: 1, heads: 3))
}

/// The stored [in, out] matrix `name`, columns `cols`, as [out, in].
private func transposed(_ m: TrainableModel, _ name: String, _ cols: Range<Int>) -> [Float] {
    let t = m.layout[name], n = t.shape[1]
    return cols.flatMap { c in (0..<t.shape[0]).map { i in m.params.base[t.offset + i * n + c] } }
}

private func stored(_ m: TrainableModel, _ name: String) -> [Float] {
    let t = m.layout[name]
    return Array(UnsafeBufferPointer(start: m.params.base + t.offset, count: t.count))
}

/// Reads a CTranslate2 model.bin back (an independent reader of the format the exporter writes).
private struct ModelBin {
    var spec = "", revision: UInt32 = 0
    var floats: [String: (shape: [Int], values: [Float])] = [:]
    var scalars: [String: Int] = [:]
    var aliases: [String: String] = [:]

    init(_ d: Data) throws {
        var o = 0
        func take(_ n: Int) throws -> Data {
            guard o + n <= d.count else { throw CocoaError(.fileReadCorruptFile) }
            defer { o += n }
            return d.subdata(in: o..<o + n)
        }
        func u8() throws -> UInt8 { try take(1)[0] }
        func u16() throws -> UInt16 { try take(2).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) } }
        func u32() throws -> UInt32 { try take(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        func string() throws -> String {
            let b = try take(Int(try u16()))
            guard b.last == 0 else { throw CocoaError(.fileReadCorruptFile) }
            return String(decoding: b.dropLast(), as: UTF8.self)
        }
        guard try u32() == 6 else { throw CocoaError(.fileReadCorruptFile) }
        spec = try string(); revision = try u32()
        for _ in 0..<(try u32()) {
            let name = try string()
            let shape = try (0..<Int(try u8())).map { _ in Int(try u32()) }
            let type = try u8(), bytes = try take(Int(try u32()))
            switch type {
            case 0: floats[name] = (shape, bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            case 1: scalars[name] = Int(Int8(bitPattern: bytes[0]))
            case 2: scalars[name] = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: Int16.self) })
            default: throw CocoaError(.fileReadCorruptFile)
            }
        }
        for _ in 0..<(try u32()) { let a = try string(); aliases[a] = try string() }
        guard o == d.count else { throw CocoaError(.fileReadCorruptFile) }
    }
}

@Suite struct ExportTests {
    @Test func gpt2ExportIsGPT2sLayoutUnderTransformer() throws {
        let (dir, box) = try makeRun(gptShape, seed: testSeed(1))
        let out = dir + "/hf"
        let files = try Exporter.export(run: dir, format: .hf, output: out)
        #expect(Set(files).isSuperset(of: ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]))
        let st = try SafeTensors(path: out + "/model.safetensors")
        let m = box
        #expect(st.entries.count == m.layout.tensors.count, "lm_head is tied, not stored")
        for t in m.layout.tensors {
            #expect(try st.floats("transformer." + t.name) == stored(m, t.name), "\(t.name)")
            #expect(st.entries["transformer." + t.name]?.shape == t.shape)
        }
        #expect(st.metadata["format"] == "pt")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as! [String: Any]
        #expect(config["n_embd"] as? Int == 12 && config["n_head"] as? Int == 3 && config["n_positions"] as? Int == 16)
        #expect(config["activation_function"] as? String == "gelu_new")
    }

    @Test func m2m100ExportSplitsAndTransposesTheFusedProjections() throws {
        let (dir, box) = try makeRun(seq2seqShape, seed: testSeed(2))
        let out = dir + "/hf"
        try Exporter.export(run: dir, format: .hf, output: out)
        let st = try SafeTensors(path: out + "/model.safetensors"), m = box, d = 12
        #expect(try st.floats("model.shared.weight") == stored(m, "shared.weight"))
        #expect(try st.floats("model.encoder.layers.1.self_attn.k_proj.weight") == transposed(m, "encoder.h.1.attn.c_attn.weight", d..<2 * d))
        #expect(try st.floats("model.encoder.layers.1.self_attn.v_proj.bias") == Array(stored(m, "encoder.h.1.attn.c_attn.bias")[2 * d..<3 * d]))
        #expect(try st.floats("model.decoder.layers.0.encoder_attn.v_proj.weight") == transposed(m, "decoder.h.0.cross.kv.weight", d..<2 * d))
        #expect(try st.floats("model.decoder.layers.0.fc1.weight") == transposed(m, "decoder.h.0.mlp.c_fc.weight", 0..<4 * d))
        #expect(try st.floats("model.decoder.layers.0.encoder_attn_layer_norm.bias") == stored(m, "decoder.h.0.ln_cross.bias"))
        #expect(try st.floats("model.decoder.layer_norm.weight") == stored(m, "decoder.ln_f.weight"))
        // Every lmtrain parameter lands somewhere: the counts agree.
        #expect(st.entries.values.reduce(0) { $0 + $1.count } == m.layout.tensors.reduce(0) { $0 + $1.count })
        let tokenizer = try String(contentsOfFile: out + "/tokenizer.json", encoding: .utf8)
        #expect(tokenizer.contains("\"TemplateProcessing\""), "sources end in <eos>")
    }

    @Test func ctranslate2ModelBinHoldsTheSpecsVariables() throws {
        let (dir, box) = try makeRun(seq2seqShape, seed: testSeed(3))
        let out = dir + "/ct2"
        let files = try Exporter.export(run: dir, format: .ctranslate2, output: out)
        #expect(files == ["config.json", "model.bin", "shared_vocabulary.json"])
        let bin = try ModelBin(Data(contentsOf: URL(fileURLWithPath: out + "/model.bin")))
        let m = box, d = 12
        #expect(bin.spec == "TransformerSpec" && bin.revision == 7)
        #expect(bin.aliases == ["encoder/embeddings_0/weight": "decoder/embeddings/weight", "decoder/projection/weight": "decoder/embeddings/weight",
                                "encoder/position_encodings/encodings": "decoder/position_encodings/encodings"])
        #expect(bin.floats["decoder/embeddings/weight"]?.values == stored(m, "shared.weight"))
        #expect(bin.floats["encoder/layer_1/self_attention/linear_0/weight"]?.shape == [3 * d, d])
        #expect(bin.floats["encoder/layer_1/self_attention/linear_0/weight"]?.values == transposed(m, "encoder.h.1.attn.c_attn.weight", 0..<3 * d))
        #expect(bin.floats["decoder/layer_0/attention/linear_1/weight"]?.values == transposed(m, "decoder.h.0.cross.kv.weight", 0..<2 * d))
        #expect(bin.floats["decoder/layer_0/attention/layer_norm/gamma"]?.values == stored(m, "decoder.h.0.ln_cross.weight"))
        #expect(bin.floats["decoder/position_encodings/encodings"]?.values == PositionTable.fairseq.table(rows: 20, d: d))
        #expect(bin.scalars["encoder/num_heads"] == 3 && bin.scalars["decoder/scale_embeddings"] == 1 && bin.scalars["decoder/alignment_layer"] == -1)
        // An encoder layer holds 12 tensors (2 sublayers: a norm's 2, linears' weight and bias), a decoder
        // layer 20 (cross-attention: a norm and 3 linears); then 2 final norms, the table and the embedding.
        #expect(bin.floats.count == 2 * 12 + 20 + 4 + 2, "\(bin.floats.keys.sorted())")
        let vocab = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/shared_vocabulary.json"))) as! [String]
        #expect(vocab.count == m.layout["shared.weight"].shape[0] && vocab[3] == "<eos>")
    }

    @Test func ctranslate2LanguageModelUsesTheLearnedPositions() throws {
        let (dir, box) = try makeRun(gptShape, seed: testSeed(4))
        try Exporter.export(run: dir, format: .ctranslate2, output: dir + "/ct2")
        let bin = try ModelBin(Data(contentsOf: URL(fileURLWithPath: dir + "/ct2/model.bin")))
        #expect(bin.spec == "TransformerDecoderSpec" && bin.revision == 8)
        #expect(bin.floats["decoder/position_encodings/encodings"]?.values == stored(box, "wpe.weight"))
        #expect(bin.floats["decoder/layer_1/ffn/linear_1/weight"]?.values == transposed(box, "h.1.mlp.c_proj.weight", 0..<12))
        #expect(bin.scalars["decoder/scale_embeddings"] == 0 && bin.aliases["decoder/projection/weight"] == "decoder/embeddings/weight")
    }

    @Test func refusalsAreOneLineAndLeaveNothingBehind() throws {
        let (dir, _) = try makeRun(seq2seqShape, seed: testSeed(5))
        func refusal(_ f: () throws -> Void) -> String {
            do { try f(); return "" } catch { return "\(error)" }
        }
        // An existing output is refused, and kept, unless --force.
        try FileManager.default.createDirectory(atPath: dir + "/taken", withIntermediateDirectories: false)
        let taken = refusal { try Exporter.export(run: dir, format: .ctranslate2, output: dir + "/taken") }
        #expect(taken.contains("--force") && !taken.contains("\n"), "\(taken)")
        try Exporter.export(run: dir, format: .ctranslate2, output: dir + "/taken", force: true)
        #expect(FileManager.default.fileExists(atPath: dir + "/taken/model.bin"))
        // --force never replaces the run itself, or a directory holding it.
        for target in [dir, (dir as NSString).deletingLastPathComponent] {
            let itself = refusal { try Exporter.export(run: dir, format: .ctranslate2, output: target, force: true) }
            #expect(itself.contains("would replace the run"), "\(itself)")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/model.safetensors"))
        // A missing weights file.
        let missing = refusal { try Exporter.export(run: dir, format: .hf, output: dir + "/x", checkpoint: dir + "/nope.safetensors") }
        #expect(missing.contains("nope.safetensors") && !missing.contains("\n"), "\(missing)")
        // A model the target cannot express: the interleaved position table has no M2M100 equivalent.
        var run = try Run.load(directory: dir)
        if case .seq2seq(var c) = run.model { c.positions = .interleaved; run.model = .seq2seq(c) }
        try run.save(directory: dir)
        let old = refusal { try Exporter.export(run: dir, format: .hf, output: dir + "/y") }
        #expect(old.contains("ctranslate2") && !old.contains("\n"), "\(old)")
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        let untrained = refusal { try Exporter.export(run: dir, format: .ctranslate2, output: dir + "/z") }
        #expect(untrained.contains("no checkpoint"), "\(untrained)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") || ["x", "y", "z"].contains($0) }
        #expect(left.isEmpty, "\(left)")
        try? FileManager.default.removeItem(atPath: dir)
    }
}
