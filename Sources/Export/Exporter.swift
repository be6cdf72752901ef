import FileIO
import Foundation
import Model
import Runs
import Tokenizer

/// The formats `lmtrain export` writes.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// Hugging Face transformers: `GPT2LMHeadModel` for a language model, `M2M100ForConditionalGeneration` for
    /// a translation model, with a `tokenizers` tokenizer.json.
    case hf
    /// CTranslate2 (4.x): model.bin written directly (no Python needed), loaded by `ctranslate2.Generator` for a
    /// language model and `ctranslate2.Translator` for a translation model.
    case ctranslate2
}

/// Why an export was refused: one line saying what to do instead.
public struct ExportError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ d: String) { description = d }
}

/// Exports the model of a run directory into a new directory another library loads.
public enum Exporter {
    /// Writes the export of the run in `run` into `output`. The directory is built beside `output` under a
    /// temporary name and renamed into place when complete, so a failed export leaves nothing half-written;
    /// an existing `output` is refused unless `force`, and then replaced only once the new one is complete.
    /// `checkpoint`: a weights file to export instead of RUN/model.safetensors. Returns the files written.
    @discardableResult
    public static func export(run directory: String, format: ExportFormat, output: String, checkpoint: String? = nil,
                              force: Bool = false) throws -> [String] {
        let fm = FileManager.default
        // --force replaces the output: never let that be the run itself or a directory holding it.
        let runPath = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().path
        let outPath = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
        if runPath == outPath || runPath.hasPrefix(outPath.hasSuffix("/") ? outPath : outPath + "/") {
            throw ExportError("--output \(output) would replace the run \(directory) itself: export to a directory outside it")
        }
        if fm.fileExists(atPath: output) && !force {
            throw ExportError("\(output) already exists: choose another --output, or add --force to replace it")
        }
        let run = try Run.load(directory: directory)
        let weights = RunPaths(directory).weights(named: checkpoint)
        guard fm.fileExists(atPath: weights) else {
            throw ExportError(checkpoint == nil
                ? "\(directory) has no checkpoint (model.safetensors) yet: train it first with `lmtrain fit`, or give --checkpoint"
                : "no weights file \(weights): give the path of a .safetensors file written by lmtrain")
        }
        if format == .hf, case .seq2seq(let c) = run.model, c.positions != .fairseq {
            throw ExportError("\(directory) was trained with the interleaved position table, which Hugging Face's M2M100 cannot express (it computes fairseq's sinusoids itself): export it with --format ctranslate2, which stores the table, or train again with this lmtrain")
        }
        let tokenizer = try run.loadTokenizer(directory: directory)

        let parent = (output as NSString).deletingLastPathComponent
        let staging = (parent.isEmpty ? "." : parent) + "/." + (output as NSString).lastPathComponent + ".partial-\(getpid())"
        try? fm.removeItem(atPath: staging)
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw ExportError("cannot create \(staging): \(error.localizedDescription)")
        }
        do {
            switch run.model {
            case .gpt(let c):
                let r = try LoadedRun<GPT>(directory: directory, threads: 1, checkpoint: checkpoint)
                switch format {
                case .hf: try HuggingFaceGPT2.write(r.model, config: c, tokenizer: tokenizer, to: staging)
                case .ctranslate2: try CTranslate2Export.writeLanguageModel(r.model, config: c, tokenizer: tokenizer, to: staging)
                }
            case .seq2seq(let c):
                let r = try LoadedRun<Seq2Seq>(directory: directory, threads: 1, checkpoint: checkpoint)
                switch format {
                case .hf: try HuggingFaceM2M100.write(r.model, config: c, tokenizer: tokenizer, to: staging)
                case .ctranslate2: try CTranslate2Export.writeTranslator(r.model, config: c, tokenizer: tokenizer, to: staging)
                }
            }
            let files = try fm.contentsOfDirectory(atPath: staging).sorted()
            if fm.fileExists(atPath: output) {
                let old = staging + ".old"
                try fm.moveItem(atPath: output, toPath: old)
                try fm.moveItem(atPath: staging, toPath: output)
                try? fm.removeItem(atPath: old)
            } else {
                try fm.moveItem(atPath: staging, toPath: output)
            }
            return files
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }
}

/// A JSON object written with sorted keys, as every exported config file is.
func writeJSON(_ object: [String: Any], to path: String) throws {
    let d = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    try writeAtomically(d + Data("\n".utf8), to: path)
}
