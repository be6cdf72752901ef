import Kernels
import Model

/// AdamW over a model's parameter arena: first and second moments in arenas of the same layout, weight
/// decay on matrices and embeddings only (biases and LayerNorm parameters are exempt, as in nanoGPT).
public final class AdamW {
    public let m: FloatArena
    public let v: FloatArena
    public private(set) var step = 0
    let layout: ParameterLayout

    public init(layout: ParameterLayout) {
        self.layout = layout
        m = FloatArena(count: layout.count)
        v = FloatArena(count: layout.count)
    }

    /// One update with learning rate `hyper.lr`. Counts steps from 1.
    public func update(params: FloatArena, grads: FloatArena, hyper: AdamWHyper, pool: ThreadPool = .shared) {
        step += 1
        for t in layout.tensors {
            adamWStep(params: params.base + t.offset, grads: grads.base + t.offset, m: m.base + t.offset,
                      v: v.base + t.offset, count: t.count, step: step, hyper: hyper, decay: t.decays, pool: pool)
        }
    }

    /// Restores the step count from a checkpoint (the moments are read into `m` and `v` directly).
    public func restore(step: Int) { self.step = step }
}
