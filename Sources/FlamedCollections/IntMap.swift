/// A hash map from `UInt64` keys to non-negative `Int32` values, for the hot paths of
/// report building (tree children, symbol caches). Open addressing with linear probing
/// and a multiplicative hash: several times faster than `Dictionary` with SipHash for
/// integer keys that come from the data, and the keys are not attacker-chosen strings.
public struct IntMap: Sendable {
    @usableFromInline var keys: [UInt64]
    @usableFromInline var values: [Int32]
    @usableFromInline var mask: Int
    @usableFromInline var shift: UInt64
    /// Number of entries.
    @usableFromInline var storedCount = 0
    /// Number of entries.
    public var count: Int { storedCount }

    @usableFromInline static let empty: Int32 = -1

    /// Creates an empty map with room for about `capacity` entries before it grows.
    public init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: 0, count: size)
        values = [Int32](repeating: Self.empty, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inlinable @inline(__always)
    func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The value for `key`, or nil.
    @inlinable
    public subscript(key: UInt64) -> Int32? {
        var index = slot(key)
        while true {
            let value = values[index]
            if value == Self.empty { return nil }
            if keys[index] == key { return value }
            index = (index &+ 1) & mask
        }
    }

    /// Sets `key` to `value` (which must not be negative).
    @inlinable
    public mutating func set(_ key: UInt64, _ value: Int32) {
        precondition(value >= 0, "IntMap values must not be negative")
        if (storedCount &+ 1) * 4 > (mask &+ 1) * 3 { grow() }
        var index = slot(key)
        while true {
            if values[index] == Self.empty {
                keys[index] = key
                values[index] = value
                storedCount &+= 1
                return
            }
            if keys[index] == key {
                values[index] = value
                return
            }
            index = (index &+ 1) & mask
        }
    }

    /// Removes every entry, keeping the storage.
    public mutating func removeAll() {
        guard storedCount > 0 else { return }
        for index in values.indices { values[index] = Self.empty }
        storedCount = 0
    }

    @usableFromInline
    mutating func grow() {
        let oldKeys = keys, oldValues = values
        let size = (mask + 1) * 2
        keys = [UInt64](repeating: 0, count: size)
        values = [Int32](repeating: Self.empty, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
        storedCount = 0
        for index in oldValues.indices where oldValues[index] != Self.empty {
            set(oldKeys[index], oldValues[index])
        }
    }
}
