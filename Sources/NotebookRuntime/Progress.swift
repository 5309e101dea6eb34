import Foundation

/// Training progress over epochs x batches.
///
/// On a terminal: one live line, redrawn in place (`epoch 2/5 [=====>    ] 120/391 loss 0.4312
/// 85.2 it/s ETA 0:14`). Captured by the runner (or piped): one summary line per epoch, never
/// one per batch; when a notebook page watches (`NotebookSession.wantsProgress`), also a progress
/// record about ten times a second, which moves the page's bar and leaves the captured text alone.
///
///     let progress = ProgressBar(epochs: 5, batchesPerEpoch: loader.count)
///     for epoch in 1...5 {
///         for batch in loader { ...; progress.step(loss: loss.item()) }
///         progress.endEpoch(["val acc": acc])
///     }
public final class ProgressBar {
    public let epochs: Int
    public let batchesPerEpoch: Int
    public private(set) var epoch = 1
    public private(set) var batch = 0
    private var lossSum = 0.0
    private var lossCount = 0
    private var lastLoss: Double?
    private let started = Date()
    private var epochStarted = Date()
    private var lastDraw = Date.distantPast
    private let live: Bool

    public init(epochs: Int, batchesPerEpoch: Int, live: Bool? = nil) {
        self.epochs = max(1, epochs)
        self.batchesPerEpoch = max(1, batchesPerEpoch)
        self.live = live ?? (isatty(STDOUT_FILENO) == 1 && !NotebookSession.isCaptured)
    }

    /// One batch done, with its loss.
    public func step(loss: Float? = nil) {
        batch += 1
        if let loss { lastLoss = Double(loss); lossSum += Double(loss); lossCount += 1 }
        // About ten redraws a second, and the epoch's last batch.
        guard (live || NotebookSession.wantsProgress),
              Date().timeIntervalSince(lastDraw) > 0.1 || batch == batchesPerEpoch else { return }
        lastDraw = Date()
        if live {
            fputs("\r" + barLine() + "\u{1B}[K", stdout)
            fflush(stdout)
        } else {
            // A watching notebook page moves its own bar; captured text keeps one line per epoch.
            NotebookSession.emitProgress(label: "epoch \(epoch)/\(epochs)", done: batch, total: batchesPerEpoch, text: barLine())
        }
    }

    /// `epoch 2/5 [=====>    ] 120/391 loss 0.4312 85.2 it/s ETA 0:14`
    func barLine() -> String {
        let width = 24
        let filled = min(width, batch * width / batchesPerEpoch)
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
            + String(repeating: " ", count: max(0, width - filled - 1))
        let rate = Double(batch) / max(1e-9, Date().timeIntervalSince(epochStarted))
        let remaining = Double(batchesPerEpoch - batch + (epochs - epoch) * batchesPerEpoch) / max(rate, 1e-9)
        var line = "epoch \(epoch)/\(epochs) [\(bar)] \(batch)/\(batchesPerEpoch)"
        if let lastLoss { line += String(format: " loss %.4f", lastLoss) }
        line += String(format: " %.1f it/s ETA %@", rate, Self.clock(remaining))
        return line
    }

    /// The epoch is over: prints its summary (mean loss, rate, time, ETA, extra metrics).
    public func endEpoch(_ metrics: KeyValuePairs<String, Float> = [:]) {
        let elapsed = Date().timeIntervalSince(epochStarted)
        let total = Date().timeIntervalSince(started)
        var line = "epoch \(epoch)/\(epochs) · \(batch) batches"
        if lossCount > 0 { line += String(format: " · loss %.4f", lossSum / Double(lossCount)) }
        for (name, value) in metrics { line += String(format: " · %@ %.4f", name, Double(value)) }
        line += String(format: " · %.1f it/s · %@", Double(batch) / max(1e-9, elapsed), Self.clock(elapsed))
        if epoch < epochs {
            line += " · ETA " + Self.clock(total / Double(epoch) * Double(epochs - epoch))
        }
        if live { fputs("\r\u{1B}[K", stdout) }
        print(line)
        epoch += 1
        batch = 0
        lossSum = 0
        lossCount = 0
        epochStarted = Date()
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
