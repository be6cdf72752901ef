import Foundation

/// Errors reading a safetensors file: each names the file and what is wrong.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case corrupt(String, String)

    public var description: String {
        switch self {
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        case .corrupt(let p, let why): return "\(p) is corrupt or truncated: \(why)"
        }
    }
}

/// The safetensors format (Hugging Face): 8-byte little-endian header length N, N bytes of JSON
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}} padded with spaces to a
/// multiple of 8, then the raw little-endian row-major data. Offsets are relative to the data start.
public struct SafeTensors {
    public enum DType: String, Sendable { case f32 = "F32", i32 = "I32" }

    public struct Entry: Sendable {
        public let dtype: DType
        public let shape: [Int]
        public let range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Reads and validates a whole file: header length, JSON, dtypes, shapes against byte ranges, ranges inside
    /// the file, no overlaps. A truncated or corrupt file is rejected before anything is used.
    public init(path: String) throws {
        self.path = path
        guard let d = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError.unreadable(path, FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        data = d
        func corrupt(_ why: String) -> SafeTensorsError { .corrupt(path, why) }
        guard d.count >= 8 else { throw corrupt("shorter than the 8-byte header length") }
        let n = d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard n > 1, n < 100_000_000, 8 + Int(n) <= d.count else { throw corrupt("header length \(n) does not fit the file (\(d.count) bytes)") }
        dataStart = 8 + Int(n)
        guard let obj = try? JSONSerialization.jsonObject(with: d.subdata(in: 8..<dataStart)), let root = obj as? [String: Any] else {
            throw corrupt("the header is not JSON")
        }
        var es: [String: Entry] = [:]
        var meta: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw corrupt("__metadata__ is not a string map") }
                meta = m
                continue
            }
            guard let e = value as? [String: Any], let dt = e["dtype"] as? String, let dtype = DType(rawValue: dt),
                  let shape = e["shape"] as? [Int], let offs = e["data_offsets"] as? [Int], offs.count == 2 else {
                throw corrupt("tensor \(name) has a malformed entry (dtype F32 or I32, shape, data_offsets)")
            }
            // Sizes come from the file: any product or sum may overflow, and an overflow must be a refusal, not a trap.
            var bytes = 4, bad = !shape.allSatisfy { $0 >= 0 }
            for s in shape where !bad { (bytes, bad) = bytes.multipliedReportingOverflow(by: s) }
            guard !bad, offs[0] >= 0, offs[1] >= offs[0], offs[1] <= d.count - dataStart, offs[1] - offs[0] == bytes else {
                throw corrupt("tensor \(name): data_offsets \(offs) do not match its shape \(shape) or run past the end of the file")
            }
            es[name] = Entry(dtype: dtype, shape: shape, range: offs[0]..<offs[1])
        }
        let sorted = es.values.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        for (x, y) in zip(sorted, sorted.dropFirst()) where x.upperBound > y.lowerBound {
            throw corrupt("two tensors overlap")
        }
        entries = es
        metadata = meta
    }

    /// Copies tensor `name` (F32) into `dst`, checking its shape.
    public func read(_ name: String, into dst: UnsafeMutablePointer<Float>, shape: [Int]) throws {
        guard let e = entries[name] else { throw SafeTensorsError.corrupt(path, "tensor \(name) is missing") }
        guard e.dtype == .f32, e.shape == shape else {
            throw SafeTensorsError.corrupt(path, "tensor \(name) is \(e.dtype.rawValue) \(e.shape), expected F32 \(shape)")
        }
        data.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(dst).copyMemory(from: raw.baseAddress! + dataStart + e.range.lowerBound, byteCount: e.range.count)
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let e = entries[name] else { throw SafeTensorsError.corrupt(path, "tensor \(name) is missing") }
        var out = [Float](repeating: 0, count: e.count)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0.baseAddress!, shape: e.shape) }
        return out
    }

    public func int32s(_ name: String) throws -> [Int32] {
        guard let e = entries[name], e.dtype == .i32 else { throw SafeTensorsError.corrupt(path, "I32 tensor \(name) is missing") }
        return data.withUnsafeBytes { raw in
            (0..<e.count).map { raw.loadUnaligned(fromByteOffset: dataStart + e.range.lowerBound + 4 * $0, as: Int32.self) }
        }
    }

    /// A tensor to write: F32 data from a pointer, or I32 values.
    public struct Tensor {
        let name: String, shape: [Int], dtype: DType
        let bytes: UnsafeRawBufferPointer
        public init(_ name: String, shape: [Int], floats: UnsafePointer<Float>) {
            self.name = name; self.shape = shape; dtype = .f32
            bytes = UnsafeRawBufferPointer(start: floats, count: shape.reduce(1, *) * 4)
        }
        public init(_ name: String, shape: [Int], int32s: UnsafePointer<Int32>) {
            self.name = name; self.shape = shape; dtype = .i32
            bytes = UnsafeRawBufferPointer(start: int32s, count: shape.reduce(1, *) * 4)
        }
    }

    /// Serialises tensors (in the given order) and metadata. Little-endian hosts only (x86-64, arm64).
    public static func serialize(_ tensors: [Tensor], metadata: [String: String]) throws -> Data {
        var header: [String: Any] = [:]
        var off = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [off, off + t.bytes.count]] as [String: Any]
            off += t.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + off)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors { out.append(contentsOf: t.bytes) }
        return out
    }
}

/// Tensors given as arrays, owned until they are serialised (`SafeTensors.Tensor` takes raw pointers, so the
/// values are copied into buffers this class frees): for files written from values computed on the spot.
public final class SafeTensorsWriter {
    private var tensors: [SafeTensors.Tensor] = []
    private var buffers: [UnsafeMutableRawBufferPointer] = []

    public init() {}

    public func add(_ name: String, shape: [Int], _ values: [Float]) {
        tensors.append(SafeTensors.Tensor(name, shape: shape, floats: own(name, shape, values)))
    }

    public func add(_ name: String, shape: [Int], _ values: [Int32]) {
        tensors.append(SafeTensors.Tensor(name, shape: shape, int32s: own(name, shape, values)))
    }

    /// A copy of `values` that lives until this writer does.
    private func own<T>(_ name: String, _ shape: [Int], _ values: [T]) -> UnsafeMutablePointer<T> {
        precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
        let buf = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, values.count))
        _ = buf.initialize(from: values)
        buffers.append(UnsafeMutableRawBufferPointer(buf))
        return buf.baseAddress!
    }

    /// The file: every tensor in the order added, and `metadata`.
    public func serialize(metadata: [String: String] = [:]) throws -> Data {
        try SafeTensors.serialize(tensors, metadata: metadata)
    }

    deinit { for b in buffers { b.deallocate() } }
}
