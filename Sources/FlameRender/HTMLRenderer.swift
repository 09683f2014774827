import FlameGraph

/// Writes a flame tree as one self-contained interactive HTML page.
///
/// The page needs no network: styles, script and data are all inline. The tree is embedded
/// in the compact form of `CompactTreeEncoder` (a string table and flat pre-order node
/// arrays, smaller than perf's nested JSON) with `<`, `>` and `&` escaped, so names from
/// profiled programs can neither end the script element nor be read as markup. The viewer
/// rebuilds perf's JSON and folded stacks from it for its export buttons.
public enum HTMLRenderer {
    /// Renders `tree` and `context` as an HTML page.
    ///
    /// - Parameters:
    ///   - tree: The flame tree to show.
    ///   - context: What the profile is about, listed in the page's context panel.
    ///   - title: The page title (escaped for HTML).
    ///   - colorScheme: The palette for user-space frames, `"blue-green"` or `"orange"`;
    ///     the viewer falls back to blue-green for any other value.
    /// - Returns: The UTF-8 bytes of the page.
    public static func render(
        _ tree: FlameTree,
        context: ProfileContext,
        title: String = "flamed",
        colorScheme: String = "blue-green"
    ) -> [UInt8] {
        let data = CompactTreeEncoder.encode(tree, escapeHTML: true)
        let template = ViewerAssets.html.utf8
        var out: [UInt8] = []
        out.reserveCapacity(data.count + template.count + ViewerAssets.css.utf8.count + ViewerAssets.js.utf8.count + 4096)

        // Placeholders are `{{NAME}}` with NAME in capital letters; everything else is copied.
        let bytes = Array(template)
        let brace = UInt8(ascii: "{"), closing = UInt8(ascii: "}")
        var index = 0
        var copied = 0
        while index + 1 < bytes.count {
            guard bytes[index] == brace, bytes[index + 1] == brace else {
                index += 1
                continue
            }
            var keyEnd = index + 2
            while keyEnd < bytes.count, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[keyEnd]) {
                keyEnd += 1
            }
            guard keyEnd > index + 2, keyEnd + 1 < bytes.count,
                  bytes[keyEnd] == closing, bytes[keyEnd + 1] == closing
            else {
                index += 1
                continue
            }
            let key = String(decoding: bytes[(index + 2) ..< keyEnd], as: UTF8.self)
            out.append(contentsOf: bytes[copied ..< index])
            switch key {
            case "TITLE": out.append(contentsOf: escapeHTMLText(title).utf8)
            case "SCHEME": out.append(contentsOf: escapeHTMLText(colorScheme).utf8)
            case "CSS": out.append(contentsOf: ViewerAssets.css.utf8)
            case "JS": out.append(contentsOf: ViewerAssets.js.utf8)
            case "DATA": out.append(contentsOf: data)
            case "CONTEXT": appendContext(context, to: &out)
            default: out.append(contentsOf: bytes[index ..< keyEnd + 2])
            }
            index = keyEnd + 2
            copied = index
        }
        out.append(contentsOf: bytes[copied...])
        return out
    }

    /// Appends the context fields as a JSON array of `[label, value]` pairs, escaped for HTML.
    static func appendContext(_ context: ProfileContext, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (offset, field) in context.fields.enumerated() {
            if offset > 0 { out.append(contentsOf: ", ".utf8) }
            out.append(UInt8(ascii: "["))
            JSONEscape.appendQuoted(field.0, escapeHTML: true, to: &out)
            out.append(contentsOf: ", ".utf8)
            JSONEscape.appendQuoted(field.1, escapeHTML: true, to: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Escapes text for HTML element content and quoted attribute values.
    static func escapeHTMLText(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }
}
