import Testing
@testable import Tokenizer

@Suite struct PreTokenizerTests {
    let pre = try! PreTokenizer(normalization: .nfkc)

    @Test func wordsPunctuationAndSpaces() throws {
        #expect(try pre.keys(of: "Hello, world!") == ["Hello", ",", " world", "!"])
        #expect(try pre.keys(of: "a  b") == ["a", " ", " b"])
        #expect(try pre.keys(of: "  lead") == [" ", " lead"])
        #expect(try pre.keys(of: "trail  ") == ["trail", "  "])
        #expect(try pre.keys(of: "x\ty") == ["x", "\t", "y"])
    }

    @Test func numbersUrlsAndEmailStayWhole() throws {
        #expect(try pre.keys(of: "pi is 3.14159") == ["pi", " is", " 3.14159"])
        #expect(try pre.keys(of: "2,718.28").count == 1)
        #expect(try pre.keys(of: "mail someone@example.com").contains(" someone@example.com"))
    }

    @Test func cjkSplitsByDictionary() throws {
        #expect(try pre.keys(of: "我们今天去北京大学") == ["我们", "今天", "去", "北京大学"] ||
                (try pre.keys(of: "我们今天去北京大学")) == ["我们", "今天", "去", "北京", "大学"])
        #expect(try pre.keys(of: "今日は良い天気").count > 1)
    }

    @Test func emojiSequencesStayWhole() throws {
        #expect(try pre.keys(of: "👨‍👩‍👧‍👦") == ["👨‍👩‍👧‍👦"])
        #expect(try pre.keys(of: "hi 👍🏽!") == ["hi", " 👍🏽", "!"])
        #expect(try pre.keys(of: "🇪🇸🇬🇧") == ["🇪🇸", "🇬🇧"])
    }

    @Test func rightToLeftWords() throws {
        #expect(try pre.keys(of: "שלום עולם") == ["שלום", " עולם"])
        #expect(try pre.keys(of: "السماوات والأرض") == ["السماوات", " والأرض"])
    }

    @Test func normalisationHappensFirst() throws {
        // NFKC: the fi ligature becomes "fi", full-width A becomes A, U+3000 becomes a space.
        #expect(try pre.keys(of: "\u{FB01}ne \u{FF21}\u{3000}b") == ["fine", " A", " b"])
        let none = try PreTokenizer(normalization: .none)
        #expect(try none.keys(of: "\u{FB01}ne") == ["\u{FB01}ne"])
    }
}
