import Kernels

/// The initialisation both models share (GPT-2's recipe): every tensor zero, then LayerNorm gains 1 and each
/// decaying tensor (matrices, embeddings) drawn from N(0, std(tensor)²) in layout order from one seeded
/// generator, biases left at 0. The models differ only in which tensors are gains and in `std`.
func initializeParameters(_ params: FloatArena, layout: ParameterLayout, seed: UInt64,
                          isNormGain: (TensorInfo) -> Bool, std: (TensorInfo) -> Float) {
    var rng = GaussianRNG(seed: seed)
    params.zero()
    for t in layout.tensors {
        let p = params.base + t.offset
        if isNormGain(t) {
            p.update(repeating: 1, count: t.count)
        } else if t.decays {
            let s = std(t)
            for i in 0..<t.count { p[i] = s * rng.next() }
        }
    }
}
