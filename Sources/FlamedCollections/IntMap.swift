/// A hash map from `UInt64` keys to non-negative `Int32` values, for the hot paths of
/// report building (tree children, symbol caches). Open addressing with linear probing
/// and a multiplicative hash, keys and values side by side so a probe touches one cache
/// line: several times faster than `Dictionary` with SipHash for integer keys.
public struct IntMap: Sendable {
    @usableFromInline struct Slot: Sendable {
        @usableFromInline var key: UInt64
        @usableFromInline var value: Int32

        @usableFromInline init(key: UInt64, value: Int32) {
            self.key = key
            self.value = value
        }
    }

    @usableFromInline var slots: [Slot]
    @usableFromInline var mask: Int
    @usableFromInline var shift: UInt64
    @usableFromInline var storedCount = 0

    @usableFromInline static let empty: Int32 = -1

    /// Number of entries.
    public var count: Int { storedCount }

    /// Creates an empty map with room for about `capacity` entries before it grows.
    public init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Slot](repeating: Slot(key: 0, value: Self.empty), count: size)
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
        slots.withUnsafeBufferPointer { table in
            var index = slot(key)
            while true {
                let entry = table[index]
                if entry.value == Self.empty { return nil }
                if entry.key == key { return entry.value }
                index = (index &+ 1) & mask
            }
        }
    }

    /// Sets `key` to `value` (which must not be negative).
    @inlinable
    public mutating func set(_ key: UInt64, _ value: Int32) {
        precondition(value >= 0, "IntMap values must not be negative")
        if (storedCount &+ 1) * 4 > (mask &+ 1) * 3 { grow() }
        var index = slot(key)
        while true {
            if slots[index].value == Self.empty {
                slots[index] = Slot(key: key, value: value)
                storedCount &+= 1
                return
            }
            if slots[index].key == key {
                slots[index].value = value
                return
            }
            index = (index &+ 1) & mask
        }
    }

    /// Removes every entry, keeping the storage.
    public mutating func removeAll() {
        guard storedCount > 0 else { return }
        for index in slots.indices { slots[index].value = Self.empty }
        storedCount = 0
    }

    @usableFromInline
    mutating func grow() {
        let old = slots
        let size = (mask + 1) * 2
        slots = [Slot](repeating: Slot(key: 0, value: Self.empty), count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
        storedCount = 0
        for entry in old where entry.value != Self.empty { set(entry.key, entry.value) }
    }
}
