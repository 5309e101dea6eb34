import Foundation

/// Watches folders for changes by polling modification times, sizes and names (no inotify: it
/// works the same on every platform and a course has few files).
public struct ChangeWatcher {
    public var folders: [URL]
    private var last: [String: String] = [:]

    public init(folders: [URL]) {
        self.folders = folders
        last = snapshot()
    }

    func snapshot() -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        for folder in folders {
            guard let e = fm.enumerator(at: folder, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey],
                                        options: [.skipsHiddenFiles]) else { continue }
            for case let url as URL in e {
                let values = try? url.resourceValues(forKeys: [.contentModificationDateKey, .fileSizeKey])
                result[url.path] = "\(values?.contentModificationDate?.timeIntervalSince1970 ?? 0)-\(values?.fileSize ?? -1)"
            }
        }
        return result
    }

    /// True if anything changed since the last call (or since creation).
    public mutating func changed() -> Bool {
        let now = snapshot()
        defer { last = now }
        return now != last
    }
}
