import Foundation
import XCTest
@testable import Torch

/// The engine's thread pool (`Threads.run`, under `parallelFor` and the convolutions' image chunks).
final class ThreadsTests: XCTestCase {
    private let before = Threads.count

    override func tearDown() {
        Threads.count = before
    }

    private func currentThread() -> UInt { UInt(pthread_self()) }

    func testEveryItemRunsOnceOnAtMostTheSetNumberOfThreads() {
        for threads in [2, 3, 4] {
            Threads.count = threads
            var used: Set<UInt> = []
            for items in [2, threads, 4 * threads + 1] {
                for _ in 0..<100 {
                    var ran = [Int](repeating: 0, count: items), ids = [UInt](repeating: 0, count: items)
                    ran.withUnsafeMutableBufferPointer { r in
                        ids.withUnsafeMutableBufferPointer { t in
                            Threads.run(items) { k in
                                r[k] += 1
                                t[k] = currentThread()
                                usleep(k % 3 == 0 ? 50 : 0)
                            }
                        }
                    }
                    XCTAssertEqual(ran, [Int](repeating: 1, count: items))
                    XCTAssertLessThanOrEqual(Set(ids).count, threads)
                    used.formUnion(ids)
                }
            }
            XCTAssertTrue(used.contains(currentThread()), "the caller takes part")
            XCTAssertGreaterThan(used.count, 1, "\(threads) threads")
        }
        // After a larger setting, the pool's extra workers stay out of smaller jobs.
        Threads.count = 2
        var ids = [UInt](repeating: 0, count: 64)
        ids.withUnsafeMutableBufferPointer { t in Threads.run(64) { t[$0] = currentThread(); usleep(20) } }
        XCTAssertLessThanOrEqual(Set(ids).count, 2)
    }

    func testNestedCallsRunTheirItemsInTurn() {
        Threads.count = 2
        var inner = [[Int]](repeating: [], count: 2), sameThread = [false, false]
        inner.withUnsafeMutableBufferPointer { out in
            sameThread.withUnsafeMutableBufferPointer { same in
                Threads.run(2) { k in
                    let outer = currentThread()
                    var order: [Int] = [], threads: Set<UInt> = []
                    Threads.run(3) { j in
                        threads.insert(currentThread())
                        order.append(j)
                    }
                    out[k] = order
                    same[k] = threads == [outer]
                }
            }
        }
        XCTAssertEqual(inner, [[0, 1, 2], [0, 1, 2]])
        XCTAssertEqual(sameThread, [true, true])
    }

    /// Callers on other threads at the same time (a data loader's workers, say) each get all their
    /// items run, in parallel or in turn, and the same sums as alone.
    func testConcurrentCallersAllComplete() {
        Threads.count = 2
        let values = (0..<100_000).map { Float($0 % 97) }
        let expected = values.reduce(0, +)
        let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: 8)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            var total: Float = 0
            for _ in 0..<50 {
                var partial: [Float] = [0, 0]
                partial.withUnsafeMutableBufferPointer { p in
                    Threads.parallelFor(values.count) { range in
                        var s: Float = 0
                        for i in range { s += values[i] }
                        p[range.lowerBound == 0 ? 0 : 1] = s
                    }
                }
                total = partial[0] + partial[1]
            }
            results[caller] = total
        }
        XCTAssertEqual(Array(results), [Float](repeating: expected, count: 8))
    }
}
