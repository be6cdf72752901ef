import Foundation
import Kernels

/// Where activations, caches and scratch come from: the one builder behind GPT's and the encoder–decoder's
/// training activations, the language model's key/value cache and the translation decoder's state, so every
/// buffer is a named field of a struct (with its shape beside it) rather than an index into a list of sizes.
///
/// Buffers are carved one after another out of large blocks, each 64-byte aligned and zeroed as it is taken,
/// so they sit next to each other as in one arena. (Separate allocations would each start at the same offset
/// within a page; kernels that stream several such buffers at once then contend for the same cache sets.)
/// Only what is taken is touched, so a block's unused tail costs address space, not memory.
final class ActivationArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutablePointer<Float>? = nil
    private var left = 0
    /// Floats per block (16 MiB), or more for a larger buffer.
    static let blockFloats = 1 << 22

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(16, (count + 15) / 16 * 16)   // whole cache lines, so the next buffer stays aligned
        if n > left {
            let size = max(n, Self.blockFloats)
            var raw: UnsafeMutableRawPointer? = nil
            guard posix_memalign(&raw, 64, size * MemoryLayout<Float>.stride) == 0, let raw else {
                fatalError("out of memory allocating \(size) floats")
            }
            blocks.append(raw)
            cursor = raw.bindMemory(to: Float.self, capacity: size)
            left = size
        }
        let p = cursor!
        p.initialize(repeating: 0, count: n)
        cursor = p + n
        left -= n
        return p
    }

    deinit { for b in blocks { free(b) } }
}
