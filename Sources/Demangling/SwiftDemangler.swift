/// Shortens the Swift runtime's full demangling (`swift_demangle`) to the toolchain's
/// simplified form, the one `swift-demangle -simplified` and Xcode print:
///
///     swiftprog.Hotspot.churnNumbers(Swift.Int) -> Swift.Int    → Hotspot.churnNumbers(_:)
///     closure #1 (Swift.Int) -> Swift.Int in swiftprog.Hotspot.run() -> Swift.Int
///                                                                → closure #1 in Hotspot.run()
///
/// The runtime exports only the full form, so this works on its text:
/// - module names are dropped (`Swift.Int` → `Int`, `__C.stat` → `stat`), as are
///   `(extension in M):` and private discriminators (`(name in _1A2B…)` → `name`);
/// - a function keeps its argument labels and loses its types: `(_:)`, `(bar:baz:)`;
///   its `async`/`throws`/result is dropped, and so is the type of a variable or accessor
///   (`Hotspot.count.getter : Swift.Int` → `Hotspot.count.getter`);
/// - a closure loses its type (`closure #1 in …`); a local function keeps its labels;
/// - generic signatures lose their `where` clauses (`map<A, B>(_:)`);
/// - specializations of every kind read `specialized …`, `partial apply forwarder for` reads
///   `partial apply for`, a reabstraction thunk reads `thunk for <its type>`, and `merged`,
///   async partial-function prefixes and unmangled suffixes (`.resume.0`) are dropped;
/// - conformances lose their `: Protocol in Module` tail;
/// - `Swift.Array<T>`, `Swift.Optional<T>` and `Swift.Dictionary<K, V>` read `[T]`, `T?`, `[K : V]`.
enum SwiftNameSimplifier {
    static func simplify(_ full: String) -> String {
        var bytes = Array(full.utf8)
        bytes = removeUnmangledSuffixes(bytes)
        bytes = cutConformanceTail(bytes)
        var structural = Structural(bytes)
        let shaped = structural.run()
        return String(decoding: cleanNames(shaped[...]), as: UTF8.self)
    }

    // MARK: Characters

    static func isIdentifier(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x5f || byte == 0x24 || byte >= 0x80
    }

    static func isIdentifierStart(_ byte: UInt8) -> Bool {
        isIdentifier(byte) && !(byte >= 0x30 && byte <= 0x39)
    }

    static func isOperator(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "!"),
             UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"),
             UInt8(ascii: "|"), UInt8(ascii: "^"), UInt8(ascii: "~"), UInt8(ascii: "?"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    static func starts(_ bytes: ArraySlice<UInt8>, at index: Int, with text: String) -> Bool {
        var position = index
        for byte in text.utf8 {
            guard position < bytes.endIndex, bytes[position] == byte else { return false }
            position += 1
        }
        return true
    }

    /// The end of an operator name that starts after the `.` at `index - 1`
    /// (`Swift.Int.< infix`, `Swift...< infix`, a variadic `A...`), or nil.
    static func operatorEnd(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int? {
        guard index > bytes.startIndex, index < bytes.endIndex, bytes[index - 1] == UInt8(ascii: "."),
              isOperator(bytes[index]) else { return nil }
        var end = index
        while end < bytes.endIndex && isOperator(bytes[end]) { end += 1 }
        return end
    }

    /// The index just past the bracket group that opens at `index` (`(`, `[`, `{` or `<`),
    /// or `bytes.endIndex` when it never closes. Only brackets of the opening kind count:
    /// the runtime prints some specialization arguments with an unclosed `[`. `->` and
    /// operator names are not brackets.
    static func groupEnd(_ bytes: ArraySlice<UInt8>, from index: Int) -> Int {
        let open = bytes[index]
        let close: UInt8
        switch open {
        case UInt8(ascii: "("): close = UInt8(ascii: ")")
        case UInt8(ascii: "["): close = UInt8(ascii: "]")
        case UInt8(ascii: "{"): close = UInt8(ascii: "}")
        default: close = UInt8(ascii: ">")
        }
        var depth = 0
        var position = index
        while position < bytes.endIndex {
            if let end = operatorEnd(bytes, at: position) {
                position = end
                continue
            }
            let byte = bytes[position]
            if byte == open {
                depth += 1
            } else if byte == close && !(close == UInt8(ascii: ">") && position > bytes.startIndex && bytes[position - 1] == UInt8(ascii: "-")) {
                depth -= 1
                if depth == 0 { return position + 1 }
            }
            position += 1
        }
        return bytes.endIndex
    }

    /// Top-level positions of `separator` in `bytes` (outside any bracket group).
    static func topLevel(_ bytes: ArraySlice<UInt8>, find separator: String, from start: Int? = nil) -> [Int] {
        var result: [Int] = []
        var position = start ?? bytes.startIndex
        let first = separator.utf8.first!
        while position < bytes.endIndex {
            let byte = bytes[position]
            if byte == first && starts(bytes, at: position, with: separator) {
                result.append(position)
                position += separator.utf8.count
                continue
            }
            if let end = operatorEnd(bytes, at: position) {
                position = end
                continue
            }
            if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{")
                || byte == UInt8(ascii: "<") {
                position = groupEnd(bytes, from: position)
                continue
            }
            position += 1
        }
        return result
    }

    // MARK: Passes

    /// Drops every ` with unmangled suffix "…"` (`.resume.0`, `.cold`, LLVM's numbering).
    static func removeUnmangledSuffixes(_ bytes: [UInt8]) -> [UInt8] {
        let marker = Array(" with unmangled suffix \"".utf8)
        guard bytes.count > marker.count else { return bytes }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == marker[0] && index + marker.count <= bytes.count
                && bytes[index..<(index + marker.count)].elementsEqual(marker) {
                var end = index + marker.count
                while end < bytes.count && bytes[end] != UInt8(ascii: "\"") { end += 1 }
                index = min(end + 1, bytes.count)
                continue
            }
            result.append(bytes[index])
            index += 1
        }
        return result
    }

    /// Drops a conformance's trailing ` : Module.Protocol in Module`.
    static func cutConformanceTail(_ bytes: [UInt8]) -> [UInt8] {
        let slice = bytes[...]
        guard let colon = topLevel(slice, find: " : ").last else { return bytes }
        let rest = slice[(colon + 3)...]
        let ins = topLevel(rest, find: " in ")
        guard ins.count == 1, let inPosition = ins.first else { return bytes }
        let proto = rest[rest.startIndex..<inPosition]
        let module = rest[(inPosition + 4)...]
        guard !proto.isEmpty, !module.isEmpty, topLevel(proto, find: " ").isEmpty,
              module.allSatisfy(isIdentifier) else { return bytes }
        return Array(bytes[..<colon])
    }

    /// The structural pass: labels for parameter lists, no signature tails, entity types
    /// or closure types, and the shortened prefixes.
    struct Structural {
        let input: ArraySlice<UInt8>
        var index: Int
        var out: [UInt8] = []
        /// A function's parameter list or an entity's type was seen in this entity.
        var sawSignature = false
        var sawEntityType = false
        /// Keep ` : T` (associated type witness accessors print a requirement there).
        var keepsColon = false
        /// The next `(` is a local function's parameter list although a space precedes it.
        var localFunctionPending = false
        /// Where the current entity starts in `out`.
        var entityStart = 0

        init(_ bytes: [UInt8]) {
            input = bytes[...]
            index = input.startIndex
        }

        func at(_ text: String) -> Bool { SwiftNameSimplifier.starts(input, at: index, with: text) }

        mutating func emit(_ text: String) { out.append(contentsOf: text.utf8) }

        mutating func emit(_ range: Range<Int>) { out.append(contentsOf: input[range]) }

        /// Where a type or signature tail that starts at `start` ends: at ` in `, ` : `,
        /// ` dispatching to ` or the end, outside brackets.
        func typeEnd(from start: Int) -> Int {
            var position = start
            while position < input.endIndex {
                let byte = input[position]
                if byte == UInt8(ascii: " ") {
                    for boundary in [" in ", " : ", " dispatching to "]
                    where SwiftNameSimplifier.starts(input, at: position, with: boundary) {
                        return position
                    }
                }
                if let end = SwiftNameSimplifier.operatorEnd(input, at: position) {
                    position = end
                    continue
                }
                if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{")
                    || byte == UInt8(ascii: "<") {
                    position = SwiftNameSimplifier.groupEnd(input, from: position)
                    continue
                }
                position += 1
            }
            return input.endIndex
        }

        /// Where the decimal number at `position` ends, or nil when there is none.
        func number(at position: Int) -> Int? {
            var end = position
            while end < input.endIndex && input[end] >= 0x30 && input[end] <= 0x39 { end += 1 }
            return end > position ? end : nil
        }

        mutating func startEntity() {
            entityStart = out.count
            sawSignature = false
            sawEntityType = false
            localFunctionPending = false
            keepsColon = out.count >= 43 && out.suffix(43).elementsEqual("associated type witness table accessor for ".utf8)
            rewritePrefixes()
        }

        /// Rewrites the phrases that can open an entity.
        mutating func rewritePrefixes() {
            while index < input.endIndex {
                if at("merged ") {
                    index += 7
                    continue
                }
                if at("("), let digits = number(at: index + 1), digits < input.endIndex, input[digits] == UInt8(ascii: ")") {
                    var found = false
                    for phrase in [") await resume partial function for ", ") suspend resume partial function for "]
                    where SwiftNameSimplifier.starts(input, at: digits, with: phrase) {
                        index = digits + phrase.utf8.count
                        found = true
                    }
                    if found { continue }
                }
                if at("partial apply forwarder for ") {
                    emit("partial apply for ")
                    index += 28
                    continue
                }
                if rewriteSpecialization() { continue }
                if rewriteThunk() { continue }
                if rewriteValueWitness() { continue }
                break
            }
        }

        /// `generic specialization <…> of`, `function signature specialization <…> of` and the
        /// like: one `specialized ` however many there are.
        mutating func rewriteSpecialization() -> Bool {
            var position = index
            while position < input.endIndex {
                let byte = input[position]
                if (byte >= 0x61 && byte <= 0x7a) || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") {
                    position += 1
                    continue
                }
                break
            }
            guard position < input.endIndex, input[position] == UInt8(ascii: "<"), position - index >= 15,
                  input[(position - 15)..<position].elementsEqual("specialization ".utf8) else { return false }
            let end = SwiftNameSimplifier.groupEnd(input, from: position)
            guard SwiftNameSimplifier.starts(input, at: end, with: " of ") else { return false }
            if !out.suffix(12).elementsEqual("specialized ".utf8) { emit("specialized ") }
            index = end + 4
            return true
        }

        /// `reabstraction thunk helper <sig> from A to B` → `thunk for A`.
        mutating func rewriteThunk() -> Bool {
            guard at("reabstraction thunk helper ") else { return false }
            var position = index + 27
            while position < input.endIndex && input[position] == UInt8(ascii: "<") {
                position = SwiftNameSimplifier.groupEnd(input, from: position)
                if position < input.endIndex && input[position] == UInt8(ascii: " ") { position += 1 }
            }
            guard SwiftNameSimplifier.starts(input, at: position, with: "from ") else { return false }
            let from = position + 5
            guard let to = SwiftNameSimplifier.topLevel(input, find: " to ", from: from).first else { return false }
            emit("thunk for ")
            emit(from..<to)
            index = typeEnd(from: to + 4)
            sawSignature = true
            return true
        }

        /// `initializeWithCopy value witness for T` → `initializeWithCopy for T`.
        mutating func rewriteValueWitness() -> Bool {
            var position = index
            while position < input.endIndex && SwiftNameSimplifier.isIdentifier(input[position]) { position += 1 }
            guard position > index, SwiftNameSimplifier.starts(input, at: position, with: " value witness for ") else { return false }
            emit(index..<position)
            emit(" for ")
            index = position + 19
            return true
        }

        /// A parameter list → its labels: `(_: A, bar: B)` → `(_:bar:)`.
        mutating func emitLabels(_ open: Int, _ close: Int) {
            let closed = close - 1 > open && input[close - 1] == UInt8(ascii: ")")
            let inner = input[(open + 1)..<(closed ? close - 1 : close)]
            emit("(")
            if !inner.isEmpty {
                var starts = [inner.startIndex]
                for comma in SwiftNameSimplifier.topLevel(inner, find: ", ") { starts.append(comma + 2) }
                for start in starts {
                    var end = start
                    while end < inner.endIndex && SwiftNameSimplifier.isIdentifier(inner[end]) { end += 1 }
                    if end > start && SwiftNameSimplifier.starts(inner, at: end, with: ": ") {
                        emit(start..<end)
                    } else {
                        emit("_")
                    }
                    emit(":")
                }
            }
            emit(")")
        }

        mutating func run() -> [UInt8] {
            startEntity()
            while index < input.endIndex {
                let byte = input[index]
                if byte == UInt8(ascii: " ") {
                    if at(" in ") || at(" for ") || at(" of ") || at(" dispatching to ") {
                        let word = at(" in ") ? 4 : at(" for ") ? 5 : at(" of ") ? 4 : 16
                        if word == 4 && at(" in ") && localTypeFollows(index + 4) {
                            out.insert(SwiftNameSimplifier.keepModuleMarker, at: entityStart)
                        }
                        emit(index..<(index + word))
                        index += word
                        startEntity()
                        continue
                    }
                    if at(" : ") && !sawSignature && !sawEntityType && !keepsColon {
                        index = typeEnd(from: index + 3)
                        sawEntityType = true
                        continue
                    }
                }
                // `closure #N <type> in` → `closure #N in`; `name #N (…) -> T in` keeps labels.
                if byte == UInt8(ascii: "#"), index > input.startIndex, input[index - 1] == UInt8(ascii: " "),
                   let digits = number(at: index + 1), digits < input.endIndex, input[digits] == UInt8(ascii: " ") {
                    emit(index..<digits)
                    if isClosureWord() {
                        index = typeEnd(from: digits)
                        continue
                    }
                    index = digits
                    if at(" (") || at(" <") || at(" @") {
                        emit(" ")
                        index += 1
                        localFunctionPending = true
                    }
                    continue
                }
                if let end = SwiftNameSimplifier.operatorEnd(input, at: index) {
                    emit(index..<end)
                    index = end
                    continue
                }
                // A function type's attributes right after a name (`…Mu_@Sendable (…) async -> ()`,
                // Swift Testing's generated functions) come before its parameter list.
                if byte == UInt8(ascii: "@"), index > input.startIndex,
                   localFunctionPending || SwiftNameSimplifier.isIdentifier(input[index - 1]) || input[index - 1] == UInt8(ascii: ")") {
                    var end = index + 1
                    while end < input.endIndex && SwiftNameSimplifier.isIdentifier(input[end]) { end += 1 }
                    if end < input.endIndex && input[end] == UInt8(ascii: " ") { end += 1 }
                    emit(index..<end)
                    index = end
                    localFunctionPending = true
                    continue
                }
                if byte == UInt8(ascii: "(") {
                    let end = SwiftNameSimplifier.groupEnd(input, from: index)
                    let previous = index > input.startIndex ? input[index - 1] : UInt8(ascii: " ")
                    let isParameters = (localFunctionPending && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: ">")))
                        || (previous != UInt8(ascii: ".") && (SwiftNameSimplifier.isIdentifier(previous)
                            || previous == UInt8(ascii: ">") || previous == UInt8(ascii: ")")))
                    if isParameters && !at("(extension in ") {
                        emitLabels(index, end)
                        localFunctionPending = false
                        sawSignature = true
                        index = typeEnd(from: end)
                        continue
                    }
                    emit(index..<end)
                    index = end
                    continue
                }
                if byte == UInt8(ascii: "<") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    let end = SwiftNameSimplifier.groupEnd(input, from: index)
                    emit(index..<end)
                    index = end
                    continue
                }
                out.append(byte)
                index += 1
            }
            return out
        }

        /// Whether a local type (`Name #N`, not a closure) starts at `position`.
        func localTypeFollows(_ position: Int) -> Bool {
            var end = position
            while end < input.endIndex && SwiftNameSimplifier.isIdentifier(input[end]) { end += 1 }
            guard end > position, !input[position..<end].elementsEqual("closure".utf8),
                  SwiftNameSimplifier.starts(input, at: end, with: " #") else { return false }
            return number(at: end + 2) != nil
        }

        /// Whether the word before ` #N` just emitted is `closure`.
        func isClosureWord() -> Bool {
            guard let hash = out.lastIndex(of: UInt8(ascii: "#")), hash >= 8 else { return false }
            return out[(hash - 8)..<hash].elementsEqual("closure ".utf8)
        }
    }

    /// Marks, in the structural pass's output, a name whose first component is not a module
    /// (a member of a local type: `count.getter in Local #1 in …`).
    static let keepModuleMarker: UInt8 = 0x01

    /// `Swift.Array<T>` → `[T]`, `Swift.Optional<T>` → `T?`, `Swift.Dictionary<K, V>` → `[K : V]`
    /// at `index`: appends the sugared form and returns where the type ends, or nil.
    static func sugar(_ bytes: ArraySlice<UInt8>, at index: Int, into out: inout [UInt8]) -> Int? {
        for (prefix, kind) in [("Swift.Array<", 0), ("Swift.Optional<", 1), ("Swift.Dictionary<", 2)]
        where starts(bytes, at: index, with: prefix) {
            let open = index + prefix.utf8.count - 1
            let end = groupEnd(bytes, from: open)
            // Not for an extension's generic signature (`Swift.Optional<A where A: P>.map`).
            guard bytes[end - 1] == UInt8(ascii: ">") else { return nil }
            let inner = bytes[(open + 1)..<(end - 1)]
            if starts(inner, at: inner.startIndex, with: " where ") || !topLevel(inner, find: " where ").isEmpty { return nil }
            switch kind {
            case 0:
                out.append(UInt8(ascii: "["))
                out.append(contentsOf: cleanNames(inner))
                out.append(UInt8(ascii: "]"))
            case 1:
                let cleaned = cleanNames(inner)
                let needsParentheses = !topLevel(cleaned[...], find: " ").isEmpty
                if needsParentheses { out.append(UInt8(ascii: "(")) }
                out.append(contentsOf: cleaned)
                if needsParentheses { out.append(UInt8(ascii: ")")) }
                out.append(UInt8(ascii: "?"))
            default:
                guard let comma = topLevel(inner, find: ", ").first else { return nil }
                out.append(UInt8(ascii: "["))
                out.append(contentsOf: cleanNames(inner[inner.startIndex..<comma]))
                out.append(contentsOf: " : ".utf8)
                out.append(contentsOf: cleanNames(inner[(comma + 2)...]))
                out.append(UInt8(ascii: "]"))
            }
            return end
        }
        return nil
    }

    /// Whether an identifier names a generic parameter (`A`, `B1`, `Self`, `τ_0_0`).
    static func isGenericParameter(_ name: ArraySlice<UInt8>) -> Bool {
        guard let first = name.first else { return false }
        if name.elementsEqual("Self".utf8) { return true }
        if first >= 0x41 && first <= 0x5a { return name.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        return name.starts(with: "τ_".utf8)
    }

    /// The name pass: modules, extension contexts, private discriminators and `where`
    /// clauses dropped; Array, Optional and Dictionary sugared.
    static func cleanNames(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        var keepNextModule = false
        func boundary(_ position: Int) -> Bool {
            guard position > bytes.startIndex else { return true }
            let previous = bytes[position - 1]
            return !isIdentifier(previous) && previous != UInt8(ascii: ".")
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            if let end = operatorEnd(bytes, at: index) {
                out.append(contentsOf: bytes[index..<end])
                index = end
                continue
            }
            if byte == UInt8(ascii: "(") {
                let end = groupEnd(bytes, from: index)
                if starts(bytes, at: index, with: "(extension in ") {
                    index = end < bytes.endIndex && bytes[end] == UInt8(ascii: ":") ? end + 1 : end
                    continue
                }
                // `(in _HEX)` (an anonymous private context) goes with its dot.
                if starts(bytes, at: index, with: "(in _") {
                    if out.last == UInt8(ascii: ".") { out.removeLast() }
                    index = end < bytes.endIndex && bytes[end] == UInt8(ascii: ".") && out.isEmpty ? end + 1 : end
                    continue
                }
                var nameEnd = index + 1
                while nameEnd < end && isIdentifier(bytes[nameEnd]) { nameEnd += 1 }
                if nameEnd > index + 1 && starts(bytes, at: nameEnd, with: " in _") {
                    out.append(contentsOf: bytes[(index + 1)..<nameEnd])
                    index = end
                    continue
                }
                out.append(byte)
                index += 1
                continue
            }
            if byte == UInt8(ascii: "<") && !(index > bytes.startIndex && bytes[index - 1] == UInt8(ascii: "-")) {
                let end = groupEnd(bytes, from: index)
                let closed = bytes[end - 1] == UInt8(ascii: ">") && end - 1 > index
                var inner = bytes[(index + 1)..<(closed ? end - 1 : end)]
                if let whereAt = topLevel(inner, find: " where ").first {
                    inner = inner[inner.startIndex..<whereAt]
                } else if starts(inner, at: inner.startIndex, with: "where ") {
                    inner = inner[inner.startIndex..<inner.startIndex]
                }
                out.append(UInt8(ascii: "<"))
                out.append(contentsOf: cleanNames(inner))
                if closed { out.append(UInt8(ascii: ">")) }
                index = end
                continue
            }
            if byte == keepModuleMarker {
                keepNextModule = true
                index += 1
                continue
            }
            if byte == UInt8(ascii: " ") { keepNextModule = false }
            if isIdentifierStart(byte) && boundary(index) {
                if let end = sugar(bytes, at: index, into: &out) {
                    index = end
                    continue
                }
                var end = index
                while end < bytes.endIndex && isIdentifier(bytes[end]) { end += 1 }
                let name = bytes[index..<end]
                let dotFollows = end + 1 < bytes.endIndex && bytes[end] == UInt8(ascii: ".")
                if dotFollows && keepNextModule {
                    keepNextModule = false
                } else if dotFollows && !isGenericParameter(name) {
                    let next = bytes[end + 1]
                    if isIdentifierStart(next) || next == UInt8(ascii: "(") || (isOperator(next) && next != UInt8(ascii: "."))
                        || starts(bytes, at: end + 1, with: "..<") {
                        // A module: drop it with its dot.
                        index = end + 1
                        continue
                    }
                }
                if dotFollows && isGenericParameter(name) {
                    // `A.Swift.Sequence.Element`: a protocol-qualified associated type; drop the module.
                    var components: [Range<Int>] = []
                    var position = end
                    while position + 1 < bytes.endIndex && bytes[position] == UInt8(ascii: ".") && isIdentifierStart(bytes[position + 1]) {
                        var componentEnd = position + 1
                        while componentEnd < bytes.endIndex && isIdentifier(bytes[componentEnd]) { componentEnd += 1 }
                        components.append((position + 1)..<componentEnd)
                        position = componentEnd
                    }
                    if components.count >= 3 {
                        out.append(contentsOf: name)
                        out.append(UInt8(ascii: "."))
                        index = components[1].lowerBound
                        continue
                    }
                }
                out.append(contentsOf: name)
                index = end
                continue
            }
            out.append(byte)
            index += 1
        }
        return out
    }
}
