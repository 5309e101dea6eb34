import XCTest
@testable import Notebook

final class TrapParsingTests: XCTestCase {
    let stderr = """
    Swift/ContiguousArrayBuffer.swift:692: Fatal error: Index out of range
    Current stack trace:
    0    libswiftCore.so                    0x00007f7a3935f130 swift_reportError + 33
    3    libswiftCore.so                    0x00007f7a394f94f0 _assertionFailure(_:_:file:line:flags:) + 303
    5    lesson                             0x00005576b7d32743 <unavailable> + 5955
    8    lesson                             0x00005576b7d32151 <unavailable> + 4433
    Error thrown at:
    0    libWorkbookKit.so                  0x00007f7a3935f130 <unavailable> + 1234
    1    lesson                             0x00005576b7d32743 <unavailable> + 6000
    """

    func testFramesAreReadPerBlock() {
        XCTAssertEqual(TrapLocation.frames(in: stderr).map(\.offset), [33, 303, 5955, 4433])
        XCTAssertEqual(TrapLocation.frames(in: stderr).map(\.module)[2], "lesson")
        XCTAssertEqual(TrapLocation.frames(in: stderr, thrown: true).map(\.offset), [1234, 6000])
        XCTAssertTrue(TrapLocation.isBacktraceLine("Current stack trace:"))
        XCTAssertTrue(TrapLocation.isBacktraceLine("5    lesson                             0x00005576b7d32743 <unavailable> + 5955"))
        XCTAssertFalse(TrapLocation.isBacktraceLine("1 2 3 + 4"))
        XCTAssertFalse(TrapLocation.isBacktraceLine("epoch 1: loss 0.52 + 3"))
    }

    func testSymbolizerOutputKeepsSourceLinesOnly() {
        let text = "main\n/tmp/x/lessons/a.md:13:9\n\nmain\n/<compiler-generated>:0:0\n\nf\n/tmp/x/lessons/a.md:0:0\n"
        XCTAssertEqual(TrapLocation.parse(symbolized: text), [TrapLocation(file: "/tmp/x/lessons/a.md", line: 13)])
        let location = TrapLocation(file: "/tmp/x/lessons/a.md", line: 13)
        XCTAssertEqual(location.line(in: "lessons/a.md", within: 10...20), 13)
        XCTAssertNil(location.line(in: "lessons/a.md", within: 14...20))
        XCTAssertNil(location.line(in: "lessons/b.md", within: 10...20))
    }
}
