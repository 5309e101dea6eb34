// Hashes for cache keys and content addresses, shared with the layers above.
@_exported import Digest
