import Foundation

/// A duration as people read it in progress lines and messages: "42.0s", "5m03s", "1h02m" ("?" when unknown).
/// In Runs so the library's messages (a resumed run's budget) and the CLI's progress bars say it alike.
public func formatDuration(_ s: Double) -> String {
    if !s.isFinite { return "?" }
    let t = Int(s.rounded())
    if t < 60 { return String(format: "%.1fs", s) }
    if t < 3600 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
    return "\(t / 3600)h\(String(format: "%02d", (t % 3600) / 60))m"
}
