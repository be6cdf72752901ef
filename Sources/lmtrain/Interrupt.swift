import Foundation

/// Ctrl-C: the first asks the training loop to save a checkpoint and stop at the next step; a second one
/// exits at once.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

func installInterruptHandler() {
    signal(SIGINT) { _ in
        if stopRequested != 0 { _exit(130) }
        stopRequested = 1
    }
}
