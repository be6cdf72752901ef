import Foundation
import Runs

/// A progress bar on a terminal (rate, ETA and a caller-given status such as the loss); plain periodic
/// lines when stderr is not a terminal, so logs stay readable.
final class ProgressBar {
    private let label: String
    /// Settable: a time-budgeted run's step count is an estimate that moves with the speed.
    var total: Int { didSet { total = max(total, 1) } }
    private let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let isTTY = isatty(STDERR_FILENO) != 0
    private let interval: TimeInterval

    private let startDone: Int

    /// `done`: work finished before this bar started (a resumed run), so the rate and ETA count only what
    /// this process does.
    init(_ label: String, total: Int, unit: String = "it", done: Int = 0) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        startDone = done
        interval = isTTY ? 0.1 : 10
    }

    /// `eta`: the time left when the caller knows it better than the rate does (a time budget).
    func update(_ done: Int, status: String = "", force: Bool = false, eta knownETA: Double? = nil) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= interval else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        // Under half a second of work says nothing of the rate (one 8 MB block in microseconds would read as
        // terabytes per second).
        let rate = elapsed >= 0.5 ? Double(done - startDone) / elapsed : 0
        let eta = knownETA ?? (rate > 0 ? Double(total - done) / rate : .infinity)   // "?" until there is a rate
        let frac = min(1, Double(done) / Double(total))
        let rateText = rate > 0 ? "\(formatCount(rate)) \(unit)/s" : "? \(unit)/s"
        let tail = "\(done)/\(total) \(rateText) ETA \(formatDuration(eta))" + (status.isEmpty ? "" : " " + status)
        if isTTY {
            let width = 24
            let filled = Int(frac * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) \(bar) \(Int(frac * 100))% \(tail)".utf8))
        } else {
            FileHandle.standardError.write(Data("\(label): \(Int(frac * 100))% \(tail)\n".utf8))
        }
    }

    func finish(_ message: String) {
        let elapsed = Date().timeIntervalSince(start)
        if isTTY { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        FileHandle.standardError.write(Data("\(label): \(message) in \(formatDuration(elapsed))\n".utf8))
    }
}

func formatCount(_ x: Double) -> String {
    if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
    if x >= 1e4 { return String(format: "%.1fk", x / 1e3) }
    return String(format: "%.1f", x)
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
