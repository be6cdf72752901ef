import ArgumentParser
import Export
import Foundation

extension ExportFormat: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained model for Hugging Face transformers or CTranslate2.",
        discussion: """
        --format hf: a language model becomes a GPT2LMHeadModel, a translation model an \
        M2M100ForConditionalGeneration, each with a tokenizer.json that AutoTokenizer loads (a translation \
        tokenizer appends <eos>, as lmtrain does to sources). --format ctranslate2: a directory \
        ctranslate2.Generator (language model) or ctranslate2.Translator (translation model) loads; it takes \
        token strings, i.e. lmtrain's pieces. The output directory is written complete or not at all.
        """)

    @OptionGroup var runOptions: RunOptions
    @Option(help: "hf or ctranslate2.") var format: ExportFormat
    @Option(help: "Directory to create.") var output: String
    @Flag(help: "Replace --output if it exists.") var force = false

    func run() throws {
        let files = try Exporter.export(run: runOptions.runDirectory, format: format, output: output,
                                        checkpoint: runOptions.checkpoint, force: force)
        say("wrote \(output): \(files.joined(separator: ", "))")
    }
}
