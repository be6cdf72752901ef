import Foundation

/// CTranslate2's model.bin (binary version 6, as `ctranslate2.specs.ModelSpec` writes it): the spec's name
/// and revision, then every variable — name, rank, dims, a type id, byte count, raw little-endian data — in
/// name order, then aliases (a name standing for another variable's data, how a shared embedding is stored
/// once). Strings are a u16 length (NUL included), the UTF-8 bytes and a NUL; counts and dims are u32.
struct CTranslate2ModelFile {
    static let binaryVersion: UInt32 = 6

    enum Value {
        case float32(shape: [Int], [Float])
        case int8(Int8)
        case int16(Int16)
        /// Another variable's data under this name.
        case alias(of: String)
    }

    let spec: String
    let revision: UInt32
    var variables: [String: Value] = [:]

    init(spec: String, revision: UInt32) { self.spec = spec; self.revision = revision }

    subscript(name: String) -> Value? {
        get { variables[name] }
        set { variables[name] = newValue }
    }

    func serialize() -> Data {
        var out = Data()
        func u8(_ v: UInt8) { out.append(v) }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { let b = Array(s.utf8); u16(UInt16(b.count + 1)); out.append(contentsOf: b); u8(0) }
        let names = variables.keys.sorted()
        let aliases = names.compactMap { n -> (String, String)? in if case .alias(let of) = variables[n]! { return (n, of) } else { return nil } }
        u32(Self.binaryVersion); string(spec); u32(revision)
        u32(UInt32(names.count - aliases.count))
        for name in names {
            // Type ids follow CTranslate2's DataType enum: float32 0, int8 1, int16 2.
            switch variables[name]! {
            case .alias: continue
            case .float32(let shape, let values):
                precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) for \(values.count) values")
                string(name); u8(UInt8(shape.count)); shape.forEach { u32(UInt32($0)) }
                u8(0); u32(UInt32(values.count * 4))
                values.withUnsafeBytes { out.append(contentsOf: $0) }
            case .int8(let v):
                string(name); u8(0); u8(1); u32(1); u8(UInt8(bitPattern: v))
            case .int16(let v):
                string(name); u8(0); u8(2); u32(2); u16(UInt16(bitPattern: v))
            }
        }
        u32(UInt32(aliases.count))
        for (name, of) in aliases { string(name); string(of) }
        return out
    }
}
