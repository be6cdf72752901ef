import CKernelSupport
import Foundation

/// A persistent pool of worker threads for data-parallel kernels.
///
/// `run { tid in … }` runs the body once on every thread (the caller is thread 0) and returns when all are
/// done. Workers spin for a while after a job before sleeping, so back-to-back kernel calls (a training
/// step makes hundreds) do not pay a thread wake-up each: that wake-up is what made small products lose on
/// two threads. When other processes compete for the cores, spinning is what loses: the thread waited for
/// may be preempted for a whole time slice, and a waiter spinning through it burns this process's share of
/// the machine (beside a busy loop, training fell to a third of its fair share). So every wait (for a job,
/// for the job's end, at a barrier) spins for a bounded time and then sleeps, and the bound is short while
/// the kernel keeps preempting this process's threads (the pool samples the count every 50 ms), long
/// otherwise. Jobs must not be nested; callers on several threads take turns.
public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    /// The precision of the matrix products run on this pool (sgemm without an explicit kernel): like
    /// PyTorch's global fp32 matmul precision, but scoped to the pool, so to the model that owns it.
    public let matmulPrecision: MatmulPrecision
    /// Scratch memory owned by the pool, for kernels that need packing buffers; use it only inside
    /// `exclusive` (which `run` implies).
    public let workspace = Workspace()
    /// The state the workers share. They hold it strongly (not the pool), so the pool can be destroyed
    /// while they run: its deinit tells them to stop and waits until they have.
    private let core: PoolCore

    /// The process-wide default pool: one thread per core.
    nonisolated(unsafe) public static var shared = ThreadPool(threads: ProcessInfo.processInfo.activeProcessorCount)

    public init(threads: Int, matmulPrecision: MatmulPrecision = .fp32) {
        threadCount = max(1, threads)
        self.matmulPrecision = matmulPrecision
        core = PoolCore(threadCount: threadCount)
        for tid in 1..<threadCount {
            let core = self.core
            let t = Thread { core.workerLoop(tid) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit { core.shutDown() }

    /// Runs `body` while no other caller can use the pool (or its workspace).
    public func exclusive<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(core.callerMutex)
        defer { pthread_mutex_unlock(core.callerMutex) }
        return try body()
    }

    /// Runs `body(tid)` for tid in 0..<min(threads, threadCount), concurrently, and waits for all.
    /// With one thread the body runs on the caller, with no hand-off.
    public func run(threads: Int = .max, _ body: (Int) -> Void) {
        exclusive { core.run(active: max(1, min(threads, threadCount)), body) }
    }

    /// Runs `body(i)` for i in 0..<count, split into contiguous ranges across the threads
    /// (or on the caller alone when `count` is small, where a hand-off costs more than it saves).
    public func parallelFor(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = max(1, min(threadCount, count / max(1, minimumPerThread)))
        run(threads: workers) { tid in
            let lo = count * tid / workers, hi = count * (tid + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Waits until every thread of the current `run` has reached the barrier (sense-reversing spin barrier).
    public func barrier(_ localSense: inout Int64) { core.barrier(&localSense) }

    /// Claims the next item of a shared work queue: 0, 1, 2, … across all threads of the current `run`
    /// (the counter starts at 0 with each `run`). Dynamic scheduling: a thread slowed down (a preempted vCPU,
    /// say) simply claims fewer items instead of making the others wait at the next barrier.
    public func claimWorkItem() -> Int { Int(lmt_add(core.workCounter, 1) - 1) }

    /// The barrier sense a thread starts a `run` with.
    public var currentSense: Int64 { lmt_load(core.barrierSense) }
}

/// What the pool's threads share: the job, its counters and the sleep/wake machinery. Counters are heap
/// cells so C atomics can address them stably, and pthread objects live on the heap because `&property` of
/// a class is not guaranteed a stable address.
final class PoolCore: @unchecked Sendable {
    let threadCount: Int
    /// Serialises callers; recursive, so a kernel can hold it across its set-up and its `run`.
    let callerMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let generation = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    let finished = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    let barrierCount = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    let barrierSense = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    let workCounter = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    /// Where threads sleep (see lmt_event_sleep): workers for the next job, the caller for the job's end,
    /// threads at a barrier for its last arrival. Two int32 each.
    let jobEvent = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
    let doneEvent = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
    let barrierEvent = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
    /// Threads taking part in the current job (barrier size).
    var active = 1
    var body: ((Int) -> Void)? = nil
    var shuttingDown = false
    /// Spin bounds in nanoseconds, [idle, wait]: how long a worker spins for the next job, and a thread for
    /// the rest of a job (its end, a barrier), before sleeping. Written by the caller, read by all.
    let spinNs = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
    /// Uncontended: longer than the gaps between a step's kernel calls and than the imbalance of a job, since
    /// a sleeping thread (a halted virtual CPU, here) can take far longer to wake than the wait it saved.
    static let quietSpinNs: (idle: Int64, wait: Int64) = (2_000_000, 2_000_000)
    /// Contended: a few wake-ups' worth; whoever is late is then likely preempted, not busy.
    static let busySpinNs: (idle: Int64, wait: Int64) = (50_000, 20_000)
    /// Preemptions per second (over the whole process) above which the machine counts as contended: idle,
    /// a training process here sees about 40 a second, beside one busy loop 300–750.
    static let contendedSwitchesPerSecond = 150.0
    var lastSampleNs: Int64 = 0, lastSwitches: Int64 = 0

    init(threadCount: Int) {
        self.threadCount = threadCount
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(callerMutex, &attr)
        pthread_mutexattr_destroy(&attr)
        for p in [generation, finished, barrierCount, barrierSense, workCounter] { p.initialize(to: 0) }
        for e in [jobEvent, doneEvent, barrierEvent] { e.initialize(repeating: 0, count: 2) }
        spinNs[0] = Self.quietSpinNs.idle
        spinNs[1] = Self.quietSpinNs.wait
        lastSampleNs = lmt_now_ns()
        lastSwitches = lmt_involuntary_switches()
    }

    deinit {
        pthread_mutex_destroy(callerMutex)
        callerMutex.deallocate()
        for p in [generation, finished, barrierCount, barrierSense, workCounter] { p.deallocate() }
        for e in [jobEvent, doneEvent, barrierEvent] { e.deallocate() }
        spinNs.deallocate()
    }

    /// Every 50 ms (checked by the caller at each job): whether the kernel preempted this process often
    /// since the last look, and the spin bounds that follow.
    func sampleContention() {
        let now = lmt_now_ns()
        if now - lastSampleNs < 50_000_000 { return }
        let switches = lmt_involuntary_switches()
        let rate = Double(switches - lastSwitches) / (Double(now - lastSampleNs) * 1e-9)
        let spin = rate > Self.contendedSwitchesPerSecond ? Self.busySpinNs : Self.quietSpinNs
        lmt_store(spinNs, spin.idle)
        lmt_store(spinNs + 1, spin.wait)
        lastSampleNs = now
        lastSwitches = switches
    }

    /// Returns once `done()` holds: spins (pause) for about `spinNs`, then sleeps on `event` between checks.
    /// Whoever makes `done()` true signals `event` afterwards.
    @inline(__always)
    func wait(on event: UnsafeMutablePointer<Int32>, spinNs: Int64, until done: () -> Bool) {
        if done() { return }
        let deadline = lmt_now_ns() + spinNs
        var spins = 0, sleeping = false
        while !done() {
            if !sleeping {
                spins += 1
                // The clock is read every 64 pauses: a few hundred nanoseconds apart.
                if spins & 63 != 0 || lmt_now_ns() < deadline { lmt_pause(); continue }
                sleeping = true
            }
            let seq = lmt_event_seq(event)
            if done() { return }
            lmt_event_sleep(event, seq)
        }
    }

    /// Tells the workers to exit and waits until each has counted itself out.
    func shutDown() {
        pthread_mutex_lock(callerMutex)
        lmt_store(finished, 0)
        shuttingDown = true
        lmt_add(generation, 1)
        lmt_event_signal(jobEvent)
        let workers = Int64(threadCount - 1)
        wait(on: doneEvent, spinNs: lmt_load(spinNs + 1)) { lmt_load(finished) == workers }
        pthread_mutex_unlock(callerMutex)
    }

    func workerLoop(_ tid: Int) {
        var seen: Int64 = 0
        while true {
            wait(on: jobEvent, spinNs: lmt_load(spinNs)) { lmt_load(generation) != seen }
            seen = lmt_load(generation)
            if shuttingDown { lmt_add(finished, 1); lmt_event_signal(doneEvent); return }
            if tid < active { body!(tid) }
            lmt_add(finished, 1)
            lmt_event_signal(doneEvent)
        }
    }

    /// One job on `active` threads (the caller holds callerMutex).
    func run(active: Int, _ body: (Int) -> Void) {
        self.active = active
        lmt_store(workCounter, 0)
        if active == 1 { body(0); return }
        sampleContention()
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            lmt_store(finished, 0)
            lmt_add(generation, 1)
            lmt_event_signal(jobEvent)
            escapable(0)
            let workers = Int64(threadCount - 1)
            wait(on: doneEvent, spinNs: lmt_load(spinNs + 1)) { lmt_load(finished) == workers }
            self.body = nil
        }
    }

    func barrier(_ localSense: inout Int64) {
        localSense = 1 - localSense
        if lmt_add(barrierCount, 1) == Int64(active) {
            lmt_store(barrierCount, 0)
            lmt_store(barrierSense, localSense)
            lmt_event_signal(barrierEvent)
        } else {
            let sense = localSense
            wait(on: barrierEvent, spinNs: lmt_load(spinNs + 1)) { lmt_load(barrierSense) == sense }
        }
    }
}

/// 64-byte aligned scratch buffers that grow on demand and are kept for the next call, so kernels do not
/// allocate in steady state.
public final class Workspace: @unchecked Sendable {
    /// Slots used by the kernels of this module (callers outside it use slots from `firstFreeSlot`).
    enum Slot { static let gemmB = 0, gemmA = 1, partials = 2, attentionA = 3, attentionB = 4, attentionScratch = 5, int8A = 6, packedA = 7 }
    public static let firstFreeSlot = 8

    private var pointers: [UnsafeMutablePointer<Float>?] = []
    private var sizes: [Int] = []

    public init() {}

    /// Buffer `slot` with room for at least `count` floats. Slots are the caller's to assign; the pointer
    /// stays valid until the same slot is asked for with a larger count.
    public func floats(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        while pointers.count <= slot { pointers.append(nil); sizes.append(0) }
        if let p = pointers[slot], sizes[slot] >= count { return p }
        if let old = pointers[slot] { free(old) }
        var raw: UnsafeMutableRawPointer? = nil
        let rc = posix_memalign(&raw, 64, max(count, 16) * MemoryLayout<Float>.stride)
        precondition(rc == 0 && raw != nil, "out of memory")
        let p = raw!.bindMemory(to: Float.self, capacity: count)
        pointers[slot] = p
        sizes[slot] = count
        return p
    }

    /// Raw bytes in slot `slot` (64-byte aligned), for per-thread partial results of other types.
    public func bytes(_ slot: Int, count: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(floats(slot, count: (count + 3) / 4))
    }

    deinit { for case let p? in pointers { free(p) } }
}
