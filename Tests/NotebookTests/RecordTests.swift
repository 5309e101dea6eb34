import XCTest
import ProgramRecords

/// The record protocol's wire format: what the runtime writes is what the hosts read.
final class RecordTests: XCTestCase {
    func testEveryKindRoundTripsInTheDocumentedShape() throws {
        let bodies: [Record.Body] = [
            .begin(pid: 42), .cell(line: 7), .text("hi"),
            .table(headers: ["k", "v"], rows: [["a", "1"]], align: ["left", "right"]),
            .image(png: "iVBOR", caption: "c"), .image(png: "iVBOR", caption: nil),
            .svg("<svg/>"), .html("<b>x</b>"), .expectedError(failed: true, status: "signal 4"), .done,
            .progress(label: "epoch 1/2", done: 3, total: 10, text: "epoch 1/2 [==>   ] 3/10"),
        ]
        for (i, body) in bodies.enumerated() {
            let record = Record(seq: i + 1, cell: i == 0 ? nil : 2, body: body)
            let line = try RecordChannel.encodeLine(record)
            XCTAssertEqual(line.last, UInt8(ascii: "\n"))
            XCTAssertEqual(RecordChannel.decode(Record.self, line: line.dropLast()), record)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: line) as? [String: Any])
            XCTAssertEqual(object["seq"] as? Int, i + 1)
            XCTAssertEqual(object["kind"] as? String, record.kind)
        }
        // The documented shape, as a program of an older version wrote it by hand.
        let table = #"{"align":["left"],"cell":1,"headers":["h"],"kind":"table","rows":[["1"]],"seq":3}"#
        XCTAssertEqual(RecordChannel.decode(Record.self, line: Data(table.utf8)),
                       Record(seq: 3, cell: 1, body: .table(headers: ["h"], rows: [["1"]], align: ["left"])))
        // Junk and unknown kinds are skipped by hosts, not trusted.
        XCTAssertNil(RecordChannel.decode(Record.self, line: Data(#"{"seq":1,"kind":"rm -rf"}"#.utf8)))
        XCTAssertNil(RecordChannel.decode(Record.self, line: Data("{not json".utf8)))
        XCTAssertNil(RecordChannel.decode(Record.self, line: Data(#"{"seq":"1","kind":"done"}"#.utf8)))
    }

    /// A host of an older version (before the `progress` kind) skips a progress line as it skips
    /// any unknown kind; such a reader is modelled by decoding with a type that knows only the
    /// kinds before it.
    func testProgressIsSkippedByReadersThatDoNotKnowIt() throws {
        struct Unknown: Error {}
        struct OldRecord: Decodable {
            init(from decoder: Decoder) throws {
                enum Key: String, CodingKey { case kind }
                let kind = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: .kind)
                guard ["begin", "cell", "text", "table", "image", "svg", "html", "expected-error", "done"].contains(kind) else {
                    throw Unknown()
                }
            }
        }
        let line = try RecordChannel.encodeLine(Record(seq: 5, cell: 0, body: .progress(label: "epoch 1/1", done: 1, total: 2, text: "t")))
        XCTAssertNil(RecordChannel.decode(OldRecord.self, line: line.dropLast()))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: line) as? [String: Any])
        XCTAssertEqual(object["kind"] as? String, "progress")
        XCTAssertEqual(object["done"] as? Int, 1)
        XCTAssertEqual(object["total"] as? Int, 2)
    }

    func testVerdictsRoundTrip() throws {
        for verdict in [Verdict.start(check: 0), .result(check: 1, passed: false, message: "m: expected 3, got 2", summary: "m"), .done] {
            let line = try RecordChannel.encodeLine(verdict)
            XCTAssertEqual(RecordChannel.decode(Verdict.self, line: line.dropLast()), verdict)
        }
        XCTAssertEqual(RecordChannel.decode(Verdict.self, line: Data(#"{"check":2,"passed":true,"message":""}"#.utf8)),
                       .result(check: 2, passed: true, message: "", summary: ""))
        XCTAssertNil(RecordChannel.decode(Verdict.self, line: Data(#"{"passed":true}"#.utf8)))
        XCTAssertEqual(StreamMarker.line(12), "\u{1E}WB:12\n")
    }
}
