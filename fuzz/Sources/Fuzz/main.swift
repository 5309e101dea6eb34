import Checkpoint
import Foundation
import Grader
import Notebook
import SystemZlib
import Torch
import Vision
#if canImport(Glibc)
import Glibc
#endif

// The repository's fuzzer: mutates seed files of each format the tool reads (PNG, JPEG,
// safetensors, .pth, IDX, lesson Markdown) and decodes every mutant in a child process of its own
// (this executable in worker mode) under CPU-time, address-space and wall-clock limits, so a crash,
// a hang or a runaway allocation is observed from outside instead of taking the fuzzer down.
//
//   Fuzz [--seed N] [--count N per format] [--formats png,jpeg,...] [--jobs N] [--time S]
//        [--memory MB] [--crashes DIR] [--root PACKAGE]
//   Fuzz --worker FORMAT FILE              decode one input (what the parent spawns)
//   Fuzz save-checkpoint FILE VALUE        save a small checkpoint (the kill test's child)
//
// The same seed gives the same inputs, whatever the number of jobs. Crashing and hanging inputs
// are written to the crash folder so they can become regression fixtures.

enum Format: String, CaseIterable {
    case png, jpeg, safetensors, pth, idx, markdown
}

/// SplitMix64: small, seedable, identical on every platform.
struct SeededRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

// MARK: Worker mode

/// Applies the limits to this process: no core files, `seconds` of CPU, `megabytes` of address space.
func limitSelf(seconds: Int, megabytes: Int) {
    var core = rlimit(rlim_cur: 0, rlim_max: 0)
    setrlimit(Int32(RLIMIT_CORE.rawValue), &core)
    var cpu = rlimit(rlim_cur: rlim_t(seconds), rlim_max: rlim_t(seconds + 1))
    setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
    let bytes = rlim_t(megabytes) << 20
    var space = rlimit(rlim_cur: bytes, rlim_max: bytes)
    setrlimit(Int32(RLIMIT_AS.rawValue), &space)
}

/// Decodes one input the way the tool would; a thrown error is a clean refusal (exit 0).
func decode(_ format: Format, _ url: URL) throws {
    switch format {
    case .png, .jpeg:
        // The tool's default limits allow 100 megapixels; a smaller budget keeps workers inside
        // their address-space limit while still exercising the header checks.
        let image = try Image(contentsOf: url, limits: ImageDecodingLimits(maxWidth: 8192, maxHeight: 8192, maxPixels: 16_000_000))
        _ = image.pixels.count
    case .safetensors:
        _ = try SafeTensors.readWithMetadata(url)
    case .pth:
        _ = try PyTorchCheckpoint.readObject(url)
    case .idx:
        _ = try IDX.read(url, maxBytes: 256 << 20)
    case .markdown:
        let bytes = try Data(contentsOf: url)
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? LessonParser().load(path: url.path)
        if let lesson = try? LessonParser().parse(text: text, path: "fuzz.md"), let first = lesson.cells.first {
            _ = try? MarkdownText.replacingCellCode(first.id, with: "let edited = 1\n", in: Array(bytes), path: "fuzz.md")
        }
        let lesson = try LessonParser(configuration: Exercise.parserConfiguration).parse(text: text, path: "fuzz.md")
        let exercise = try Exercise(lesson: lesson)
        _ = try exercise.studentVersion()
    }
}

/// A worker's exit status when the input was refused with an error (0: it decoded).
let refusedStatus: Int32 = 4

func runWorker(_ arguments: [String]) -> Never {
    // The self-check's workers: one traps, one spins, to show both are caught.
    if arguments.first == "self-crash" { fatalError("self-check: a deliberate trap") }
    if arguments.first == "self-hang" {
        limitSelf(seconds: 1, megabytes: 1024)
        var x: UInt64 = 1
        while x != 0 { x = x &* 6364136223846793005 &+ 1442695040888963407 | 1 }
        exit(0)
    }
    guard arguments.count == 2, let format = Format(rawValue: arguments[0]) else {
        FileHandle.standardError.write(Data("usage: Fuzz --worker FORMAT FILE\n".utf8))
        exit(3)
    }
    let environment = ProcessInfo.processInfo.environment
    limitSelf(seconds: environment["FUZZ_CPU_SECONDS"].flatMap(Int.init) ?? 5,
              megabytes: environment["FUZZ_MEMORY_MB"].flatMap(Int.init) ?? 1024)
    do { try decode(format, URL(fileURLWithPath: arguments[1])) } catch { exit(refusedStatus) }
    exit(0)
}

/// Saves a small checkpoint whose every value is `value`: the child of the checkpoint kill test.
func saveCheckpoint(_ arguments: [String]) -> Never {
    guard arguments.count == 2, let value = Float(arguments[1]) else {
        FileHandle.standardError.write(Data("usage: Fuzz save-checkpoint FILE VALUE\n".utf8))
        exit(3)
    }
    var dict = StateDict()
    dict["fc.weight"] = Tensor.full([64, 256], value)
    dict["fc.bias"] = Tensor.full([64], value)
    do {
        try Checkpoint.save(dict, to: URL(fileURLWithPath: arguments[0]))
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }
    exit(0)
}

// MARK: Seeds

func files(in folder: URL, extensions: Set<String>, maxBytes: Int = 256 << 10) -> [[UInt8]] {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    return names.compactMap { name in
        let url = folder.appendingPathComponent(name)
        guard extensions.contains(url.pathExtension.lowercased()),
              let data = try? Data(contentsOf: url), data.count <= maxBytes else { return nil }
        return [UInt8](data)
    }
}

func gzipped(_ bytes: [UInt8]) -> [UInt8]? {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-seed-\(getpid()).gz").path
    defer { unlink(path) }
    guard let file = gzopen(path, "wb") else { return nil }
    _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    gzclose(file)
    return (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) }
}

func idxFile(dims: [Int]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, 8, UInt8(dims.count)]
    for d in dims { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    bytes += (0..<dims.reduce(1, *)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    return bytes
}

/// The test fixtures of each format, plus fuzz/regressions/FORMAT (inputs that once failed).
func seeds(for format: Format, root: URL) -> [[UInt8]] {
    let regressions = files(in: root.appendingPathComponent("fuzz/regressions/\(format.rawValue)"),
                            extensions: ["md", "idx", "gz", "pth", "safetensors", "png", "jpg"])
    return fixtureSeeds(for: format, root: root) + regressions
}

func fixtureSeeds(for format: Format, root: URL) -> [[UInt8]] {
    let images = root.appendingPathComponent("Tests/VisionTests/Fixtures/images")
    let checkpoints = root.appendingPathComponent("Tests/CheckpointTests/Fixtures")
    switch format {
    case .png: return files(in: images, extensions: ["png"])
    case .jpeg: return files(in: images, extensions: ["jpg", "jpeg"])
    case .safetensors:
        var seeds = files(in: checkpoints, extensions: ["safetensors"])
        seeds += files(in: checkpoints.appendingPathComponent("parity"), extensions: ["safetensors"], maxBytes: 1 << 20)
        return seeds
    case .pth: return files(in: checkpoints, extensions: ["pth"])
    case .idx:
        let raw = [idxFile(dims: [2, 3, 2]), idxFile(dims: [5]), idxFile(dims: [3, 4, 4, 1]), idxFile(dims: [0, 7])]
        return raw + raw.compactMap(gzipped)
    case .markdown:
        var seeds = files(in: root.appendingPathComponent("lessons"), extensions: ["md"], maxBytes: 64 << 10)
        seeds += files(in: root.appendingPathComponent("exercises"), extensions: ["md"], maxBytes: 64 << 10)
        seeds += files(in: root.appendingPathComponent("Tests/GraderTests/Fixtures"), extensions: ["md"], maxBytes: 64 << 10)
        seeds += files(in: root.appendingPathComponent("Tests/NotebookTests/Fixtures"), extensions: ["md"], maxBytes: 64 << 10)
        return seeds
    }
}

// MARK: Mutation

let boundaries: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                            0x8000_0000_0000_0000, UInt64.max, 1 << 31, 100_000_000]

/// One to four random corruptions: bit flips, boundary values over 1-8 bytes (little or big
/// endian, often in the header), truncation, inserted, deleted, duplicated or spliced bytes.
func mutate(_ original: [UInt8], seeds: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
    var bytes = original
    // One corruption half the time (most reach past the first check), else two to four.
    for _ in 0..<(rng.below(2) == 0 ? 1 : 2 + rng.below(3)) {
        // Headers hold the sizes and offsets; aim there half the time.
        func position() -> Int {
            guard !bytes.isEmpty else { return 0 }
            return rng.below(2) == 0 ? rng.below(min(bytes.count, 128)) : rng.below(bytes.count)
        }
        switch rng.below(8) {
        case 0:
            for _ in 0...rng.below(8) where !bytes.isEmpty { bytes[position()] ^= UInt8(1 << rng.below(8)) }
        case 1:
            let value = boundaries[rng.below(boundaries.count)] &+ UInt64(rng.below(3)) &- 1
            let width = [1, 2, 4, 8][rng.below(4)]
            let at = position(), bigEndian = rng.below(2) == 0
            for i in 0..<width where at + i < bytes.count {
                let shift = 8 * UInt64(bigEndian ? width - 1 - i : i)
                bytes[at + i] = UInt8((value >> shift) & 0xFF)
            }
        case 2:
            bytes = Array(bytes.prefix(rng.below(bytes.count + 1)))
        case 3:
            let at = rng.below(bytes.count + 1)
            bytes.insert(contentsOf: (0...rng.below(16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 4:
            guard !bytes.isEmpty else { continue }
            let at = rng.below(bytes.count)
            bytes.removeSubrange(at ..< min(bytes.count, at + 1 + rng.below(64)))
        case 5:
            guard !bytes.isEmpty else { continue }
            let at = rng.below(bytes.count), length = min(bytes.count - at, 1 + rng.below(256))
            bytes.insert(contentsOf: bytes[at ..< at + length], at: rng.below(bytes.count + 1))
        case 6:
            let other = seeds[rng.below(seeds.count)]
            guard !other.isEmpty, !bytes.isEmpty else { continue }
            let from = rng.below(other.count)
            let piece = other[from ..< min(other.count, from + 1 + rng.below(512))]
            let at = rng.below(bytes.count)
            bytes.replaceSubrange(at ..< min(bytes.count, at + piece.count), with: piece)
        default:
            if !bytes.isEmpty { bytes[position()] = UInt8(truncatingIfNeeded: rng.next()) }
        }
    }
    return bytes
}

let markdownTokens = ["```swift\n", "```\n", "~~~swift\n", "---\n", "...\n", "\r\n", "\r", "\u{FEFF}", "\t",
                      "```swift id=a\n", "```swift check id=c points=2\n", "```swift hidden-check id=h\n",
                      "// BEGIN SOLUTION\n", "// END SOLUTION\n", "// STARTER\n", "## Explanation\n",
                      "title: [\n", "timeout: -1\n", "> ```swift\n", "- ```swift\n", "    ```\n", "\0", "\u{2028}",
                      "```swift timeout=1e309\n", "inputs: {a: b}\n", "```swift id=a\nx\n```\n```swift id=a\n"]

/// Markdown mutations: the byte-level ones, or lesson-shaped tokens (fences, front matter,
/// solution markers) at line starts, or a whole file converted to CRLF / CR / BOM.
func mutateMarkdown(_ original: [UInt8], seeds: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
    switch rng.below(4) {
    case 0: return mutate(original, seeds: seeds, rng: &rng)
    case 1:
        var text = String(decoding: original, as: UTF8.self)
        let ending = ["\r\n", "\r"][rng.below(2)]
        text = text.replacingOccurrences(of: "\n", with: ending)
        if rng.below(2) == 0 { text = "\u{FEFF}" + text }
        if rng.below(2) == 0, text.hasSuffix(ending) { text.removeLast() }
        return [UInt8](text.utf8)
    default:
        var lines = String(decoding: original, as: UTF8.self).components(separatedBy: "\n")
        for _ in 0...rng.below(4) {
            let token = markdownTokens[rng.below(markdownTokens.count)]
            let at = rng.below(lines.count + 1)
            if rng.below(3) == 0, !lines.isEmpty {
                lines[min(at, lines.count - 1)] = token.trimmingCharacters(in: .newlines)
            } else {
                lines.insert(token.hasSuffix("\n") ? String(token.dropLast()) : token, at: at)
            }
        }
        return [UInt8](lines.joined(separator: "\n").utf8)
    }
}

// MARK: Checksum repair
// PNG chunks and zip members carry CRC-32s, so nearly every raw mutation is refused at the first
// checksum. Half the PNG and .pth mutants get their checksums recomputed, so the damage reaches
// the decompressor, the decoder and the unpickler behind them.

func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
}

func readBE32(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3]) }
func readLE(_ b: [UInt8], _ at: Int, _ width: Int) -> Int { (0..<width).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }
func writeLE32(_ b: inout [UInt8], _ at: Int, _ value: UInt32) { for i in 0..<4 { b[at + i] = UInt8((value >> (8 * UInt32(i))) & 0xFF) } }

/// Recomputes each PNG chunk's CRC over its type and data, as far as the chunk lengths hold.
func repairPNG(_ input: [UInt8]) -> [UInt8] {
    var b = input
    var at = 8
    while at + 12 <= b.count {
        let length = readBE32(b, at)
        guard length <= b.count - at - 12 else { break }
        let value = crc(b[(at + 4) ..< (at + 8 + length)])
        for i in 0..<4 { b[at + 8 + length + i] = UInt8((value >> (8 * UInt32(3 - i))) & 0xFF) }
        at += 12 + length
    }
    return b
}

/// Recomputes the CRC-32 of each stored zip member, in its local header and the central directory.
func repairZip(_ input: [UInt8]) -> [UInt8] {
    var b = input
    guard b.count >= 22, let end = (0...(b.count - 22)).last(where: { b[$0] == 0x50 && b[$0 + 1] == 0x4B && b[$0 + 2] == 5 && b[$0 + 3] == 6 })
    else { return b }
    var at = readLE(b, end + 16, 4)
    for _ in 0..<readLE(b, end + 10, 2) {
        guard at >= 0, at + 46 <= b.count, readLE(b, at, 4) == 0x0201_4B50 else { break }
        let size = readLE(b, at + 20, 4), method = readLE(b, at + 10, 2), local = readLE(b, at + 42, 4)
        let next = at + 46 + readLE(b, at + 28, 2) + readLE(b, at + 30, 2) + readLE(b, at + 32, 2)
        if method == 0, local + 30 <= b.count, readLE(b, local, 4) == 0x0403_4B50 {
            let data = local + 30 + readLE(b, local + 26, 2) + readLE(b, local + 28, 2)
            if data <= b.count, size <= b.count - data {
                let value = crc(b[data ..< data + size])
                writeLE32(&b, at + 16, value)
                writeLE32(&b, local + 14, value)
            }
        }
        at = next
    }
    return b
}

/// Replaces one number in a safetensors JSON header (a shape, an offset, the length prefix kept
/// right) by a boundary value or a neighbour, so the mutant stays JSON and reaches the checks.
func mutateSafetensorsNumber(_ input: [UInt8], rng: inout SeededRandom) -> [UInt8] {
    guard input.count >= 8 else { return input }
    let length = readLE(input, 0, 8)
    guard length <= input.count - 8 else { return input }
    var header = Array(input[8 ..< 8 + length])
    var numbers: [Range<Int>] = []
    var i = 0
    while i < header.count {
        if (0x30...0x39).contains(header[i]) {
            let start = i
            while i < header.count, (0x30...0x39).contains(header[i]) { i += 1 }
            numbers.append(start ..< i)
        } else { i += 1 }
    }
    guard !numbers.isEmpty else { return input }
    let target = numbers[rng.below(numbers.count)]
    let old = Int(String(decoding: header[target], as: UTF8.self)) ?? 0
    let choices = [0, 1, old + 1, max(0, old - 1), old * 2, 1 << 31, 1 << 32, Int.max, 1 << 62, 4_294_967_295]
    header.replaceSubrange(target, with: Array(String(choices[rng.below(choices.count)]).utf8))
    var out = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
    out += header
    out += input[(8 + length)...]
    return out
}

/// A mutant of `seed` for `format`.
func mutant(_ format: Format, _ seed: [UInt8], seeds: [[UInt8]], rng: inout SeededRandom) -> [UInt8] {
    switch format {
    case .markdown: return mutateMarkdown(seed, seeds: seeds, rng: &rng)
    case .png:
        let bytes = mutate(seed, seeds: seeds, rng: &rng)
        return rng.below(2) == 0 ? repairPNG(bytes) : bytes
    case .pth:
        let bytes = mutate(seed, seeds: seeds, rng: &rng)
        return rng.below(2) == 0 ? repairZip(bytes) : bytes
    case .safetensors:
        return rng.below(2) == 0 ? mutateSafetensorsNumber(seed, rng: &rng) : mutate(seed, seeds: seeds, rng: &rng)
    case .jpeg, .idx: return mutate(seed, seeds: seeds, rng: &rng)
    }
}

// MARK: Parent mode

struct Options {
    var seed: UInt64 = 1
    var count = 500
    var formats = Format.allCases
    var jobs = 2
    var seconds = 5
    var megabytes = 1024
    var crashes = URL(fileURLWithPath: ".build/fuzz-crashes")
    var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var i = 0
    func value() -> String {
        i += 1
        guard i < arguments.count else { fail("\(arguments[i - 1]) needs a value") }
        return arguments[i]
    }
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Fuzz: \(message)\n".utf8))
        exit(2)
    }
    while i < arguments.count {
        switch arguments[i] {
        case "--seed": options.seed = UInt64(value()) ?? { fail("--seed needs an integer") }()
        case "--count": options.count = Int(value()) ?? { fail("--count needs an integer") }()
        case "--jobs": options.jobs = max(1, Int(value()) ?? { fail("--jobs needs an integer") }())
        case "--time": options.seconds = max(1, Int(value()) ?? { fail("--time needs whole seconds") }())
        case "--memory": options.megabytes = Int(value()) ?? { fail("--memory needs megabytes") }()
        case "--crashes": options.crashes = URL(fileURLWithPath: value())
        case "--root": options.root = URL(fileURLWithPath: value())
        case "--formats":
            options.formats = value().split(separator: ",").map { name in
                Format(rawValue: String(name)) ?? { fail("unknown format '\(name)' (known: \(Format.allCases.map(\.rawValue).joined(separator: ", ")))") }()
            }
        default: fail("unknown argument '\(arguments[i])'")
        }
        i += 1
    }
    return options
}

struct Tally {
    var inputs = 0, crashes = 0, hangs = 0, refused = 0
    var peakKilobytes = 0
    var slowest = 0.0
}

/// A running child: its input, file and deadline.
struct Running {
    var index: Int
    var file: String
    var input: [UInt8]
    var started: Date
}

func spawnWorker(executable: String, format: String, file: String, options: Options) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let arguments = [executable, "--worker", format, file]
    let environment = ["FUZZ_CPU_SECONDS=\(options.seconds)", "FUZZ_MEMORY_MB=\(options.megabytes)",
                       "PATH=/usr/bin:/bin", "HOME=/tmp"]
    var argv = arguments.map { strdup($0) } + [nil]
    var envp = environment.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, executable, &actions, nil, &argv, &envp) == 0 else { return nil }
    return pid
}

func fuzz(_ format: Format, options: Options, executable: String, scratch: URL) -> Tally {
    let seedFiles = seeds(for: format, root: options.root)
    var tally = Tally()
    guard !seedFiles.isEmpty else {
        print("fuzz \(format.rawValue): no seed files found under \(options.root.path)")
        tally.crashes = 1
        return tally
    }
    var rng = SeededRandom(state: options.seed &* 0x100 &+ UInt64(Format.allCases.firstIndex(of: format)!))
    var running: [pid_t: Running] = [:]
    var next = 0
    // Wall-clock limit: the CPU limit plus room for a loaded machine; past it the child is a hang.
    let wallLimit = Double(options.seconds * 3)
    func record(_ child: Running, status: Int32, usage: rusage, killedForTime: Bool) {
        tally.inputs += 1
        tally.peakKilobytes = max(tally.peakKilobytes, Int(usage.ru_maxrss))
        tally.slowest = max(tally.slowest, Date().timeIntervalSince(child.started))
        let signaled = (status & 0x7F) != 0 && (status & 0x7F) != 0x7F
        let signal = status & 0x7F, code = (status >> 8) & 0xFF
        var problem: String?
        if killedForTime || (signaled && signal == SIGXCPU) {
            tally.hangs += 1
            problem = "hang"
        } else if signaled {
            tally.crashes += 1
            problem = "crash (signal \(signal))"
        } else if code == refusedStatus {
            tally.refused += 1
        } else if code != 0 {
            tally.crashes += 1
            problem = "crash (exit \(code))"
        }
        if let problem {
            try? FileManager.default.createDirectory(at: options.crashes, withIntermediateDirectories: true)
            let kept = options.crashes.appendingPathComponent("\(format.rawValue)-seed\(options.seed)-\(child.index).\(format.rawValue == "markdown" ? "md" : format.rawValue)")
            try? Data(child.input).write(to: kept)
            print("fuzz \(format.rawValue): input \(child.index): \(problem); kept as \(kept.path)")
        }
        unlink(child.file)
    }
    while next < options.count || !running.isEmpty {
        while running.count < options.jobs && next < options.count {
            let seed = seedFiles[rng.below(seedFiles.count)]
            let input = mutant(format, seed, seeds: seedFiles, rng: &rng)
            let file = scratch.appendingPathComponent("\(format.rawValue)-\(next)").path
            guard FileManager.default.createFile(atPath: file, contents: Data(input)) else {
                print("fuzz: cannot write \(file)")
                try? FileManager.default.removeItem(at: scratch)
                exit(2)
            }
            guard let pid = spawnWorker(executable: executable, format: format.rawValue, file: file, options: options) else {
                print("fuzz: cannot start \(executable): \(String(cString: strerror(errno)))")
                try? FileManager.default.removeItem(at: scratch)
                exit(2)
            }
            running[pid] = Running(index: next, file: file, input: input, started: Date())
            next += 1
        }
        var status: Int32 = 0
        var usage = rusage()
        let pid = wait4(-1, &status, WNOHANG, &usage)
        if pid > 0, let child = running.removeValue(forKey: pid) {
            record(child, status: status, usage: usage, killedForTime: false)
            continue
        }
        for (pid, child) in running where Date().timeIntervalSince(child.started) > wallLimit {
            kill(pid, SIGKILL)
            var usage = rusage()
            wait4(pid, &status, 0, &usage)
            running.removeValue(forKey: pid)
            record(child, status: status, usage: usage, killedForTime: true)
        }
        usleep(500)
    }
    return tally
}

/// Shows the harness tells a trap and a spin from a clean run: a fuzzer that cannot see a crash
/// would report zeros forever.
func selfCheck(executable: String, options: Options) -> Bool {
    var ok = true
    for (mode, expected) in [("self-crash", "crash"), ("self-hang", "hang")] {
        guard let pid = spawnWorker(executable: executable, format: mode, file: "/dev/null", options: options) else { return false }
        var status: Int32 = 0
        let started = Date()
        var seen = "clean exit"
        while true {
            if waitpid(pid, &status, WNOHANG) == pid {
                let signal = status & 0x7F
                seen = signal == SIGXCPU ? "hang" : signal != 0 ? "crash" : (status >> 8) & 0xFF != 0 ? "crash" : "clean exit"
                break
            }
            if Date().timeIntervalSince(started) > 30 { kill(pid, SIGKILL); waitpid(pid, &status, 0); seen = "hang"; break }
            usleep(1000)
        }
        if seen != expected {
            print("fuzz self-check: a worker that should \(expected == "crash" ? "trap" : "spin") was seen as a \(seen)")
            ok = false
        }
    }
    return ok
}

// MARK: Entry

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--worker" { runWorker(Array(arguments.dropFirst())) }
if arguments.first == "save-checkpoint" { saveCheckpoint(Array(arguments.dropFirst())) }

let options = parseOptions(arguments)
setvbuf(stdout, nil, _IOLBF, 0)  // one line per format as it finishes, even into a pipe or a log
let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(getpid())")
try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
let start = Date()
var total = Tally()
if !selfCheck(executable: executable, options: options) {
    print("fuzz: the harness cannot detect crashes or hangs; no figures")
    try? FileManager.default.removeItem(at: scratch)
    exit(2)
}
for format in options.formats {
    let began = Date()
    let tally = fuzz(format, options: options, executable: executable, scratch: scratch)
    total.inputs += tally.inputs
    total.crashes += tally.crashes
    total.hangs += tally.hangs
    print(String(format: "fuzz %@: %d inputs (%d refused with an error), %d crashes, %d hangs, peak RSS %.1f MB, slowest %.2f s, %.1f s",
                 format.rawValue, tally.inputs, tally.refused, tally.crashes, tally.hangs, Double(tally.peakKilobytes) / 1024,
                 tally.slowest, Date().timeIntervalSince(began)))
}
print(String(format: "fuzz: %d inputs, %d crashes, %d hangs in %.1f s (seed %llu)", total.inputs, total.crashes, total.hangs,
             Date().timeIntervalSince(start), options.seed))
try? FileManager.default.removeItem(at: scratch)
exit(total.crashes + total.hangs == 0 ? 0 : 1)
