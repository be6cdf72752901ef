import Foundation

/// An exclusive lock on a directory for as long as this object lives: one trainer per run directory.
///
/// It is an advisory `flock(2)` on a file in the directory, which the kernel releases when the process ends
/// however it ends (exit, crash, SIGKILL), so a lock left by a killed process is simply free for the next one
/// and nothing stale has to be cleaned up. The file holds the holder's pid, for the message of the process
/// that is refused (and for a person looking at the directory).
public final class DirectoryLock: @unchecked Sendable {   // the descriptor is set once and only closed in deinit
    public let path: String
    private let fd: Int32
    /// The pid that the lock file named when this process took it, if it named one (a process that ended
    /// without releasing it: its lock was taken over).
    public let previousHolder: Int32?

    /// Why a directory could not be locked, as one line.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// Another live process holds it.
        case held(directory: String, pid: Int32?)
        case unwritable(String, reason: String)

        public var description: String {
            switch self {
            case .held(let dir, let pid):
                let who = pid.map { "lmtrain process \($0)" } ?? "another lmtrain process"
                return "\(dir) is in use by \(who) (a fit or --resume on the same run): wait for it to finish, or stop it, then try again"
            case .unwritable(let p, let reason):
                return "cannot lock \(p): \(reason) (choose another place or fix its permissions)"
            }
        }
    }

    /// Takes the lock on `directory` (which must exist) through the file `name` in it, or throws `.held`
    /// at once, naming the holder's pid, when a live process has it.
    public init(directory: String, name: String = "lock") throws {
        path = directory + "/" + name
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure.unwritable(path, reason: String(cString: strerror(errno))) }
        let recorded = Self.pid(in: fd)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            close(fd)
            if err == EWOULDBLOCK { throw Failure.held(directory: directory, pid: recorded) }
            throw Failure.unwritable(path, reason: String(cString: strerror(err)))
        }
        let me = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = me.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
        previousHolder = recorded == getpid() ? nil : recorded
    }

    deinit {
        // Empty the file first so nobody reads a pid that no longer holds it, then let go.
        _ = ftruncate(fd, 0)
        close(fd)
    }

    /// The pid written in the lock file, if any.
    private static func pid(in fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count - 1, 0)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text)
    }
}
