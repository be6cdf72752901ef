import Foundation

/// Ctrl-C: the first asks the training loop to save a checkpoint and stop at the next step; a second one
/// exits at once.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

func installInterruptHandler() {
    signal(SIGINT) { _ in
        if stopRequested != 0 { _exit(130) }
        stopRequested = 1
    }
    // A parent may hand down SIGINT blocked (test runners and some launchers do); then the handler would
    // never run and Ctrl-C would be lost. Unblock it for this thread (the main one, which spawns the others).
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
