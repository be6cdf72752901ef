import Kernels

/// Where activations, caches and scratch come from: each `take` is its own 64-byte-aligned, zeroed buffer,
/// alive as long as the arena. The one builder behind GPT's and the encoder–decoder's training activations,
/// the language model's key/value cache and the translation decoder's state, so every buffer is a named field
/// of a struct (with its shape beside it) rather than an index into a list of sizes.
final class ActivationArena {
    private var owned: [FloatArena] = []
    /// Floats handed out so far.
    private(set) var floats = 0

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let a = FloatArena(count: count)
        owned.append(a)
        floats += count
        return a.base
    }

    /// An arena of its own for a buffer that must be one `FloatArena` (reordered or reset as a whole).
    func takeArena(_ count: Int) -> FloatArena {
        let a = FloatArena(count: count)
        owned.append(a)
        floats += count
        return a
    }
}
