import FlameGraph
import Testing

@testable import FlameRender

// The format registry: names, file names, extensions and the renderer each entry names.

@Suite struct OutputFormatTests {
    @Test func namesAreTheUserFacingOnesInOrder() {
        #expect(OutputFormat.names == ["html", "json", "folded"])
        #expect(OutputFormat.listed(\.name) == "html, json or folded")
        for format in OutputFormat.allCases {
            #expect(OutputFormat(name: format.name) == format)
        }
        for unknown in ["", "HTML", "htm", "svg", "html ", "pprof"] {
            #expect(OutputFormat(name: unknown) == nil, "\(unknown)")
        }
    }

    @Test func defaultFileNamesArePerfs() {
        #expect(OutputFormat.html.defaultFileName == "flamegraph.html")
        #expect(OutputFormat.json.defaultFileName == "stacks.json")
        #expect(OutputFormat.folded.defaultFileName == "stacks.folded")
        #expect(OutputFormat.listed(\.defaultFileName) == "flamegraph.html, stacks.json or stacks.folded")
    }

    @Test func ownFilesUseTheFirstExtension() {
        #expect(OutputFormat.allCases.map(\.fileExtension) == ["html", "json", "folded"])
        #expect(OutputFormat.html.entry.fileExtensions == ["html", "htm"])
    }

    @Test func extensionImpliesTheFormat() {
        let cases: [(String, OutputFormat?)] = [
            ("out.html", .html), ("out.htm", .html), ("/srv/a.b/flamegraph.html", .html),
            ("stacks.json", .json), ("-.json", .json), ("x.folded", .folded),
            ("out", nil), ("-", nil), ("out.txt", nil), ("out.HTML", nil), ("html", nil), ("out.html.gz", nil),
            ("dir.json/out", nil), ("out.svg", nil), ("", nil),
        ]
        for (path, format) in cases {
            #expect(OutputFormat.inferred(from: path) == format, "\(path)")
        }
        for format in OutputFormat.allCases {
            #expect(OutputFormat.inferred(from: format.defaultFileName) == format)
            for fileExtension in format.entry.fileExtensions {
                #expect(OutputFormat.inferred(from: "profile." + fileExtension) == format)
            }
        }
    }

    @Test func rendersWithTheFormatsRenderer() {
        let tree = sampleTree()
        let context = HTMLRendererTests.hostileContext()
        #expect(OutputFormat.json.render(tree, context: context, title: "t") == JSONRenderer.render(tree))
        #expect(OutputFormat.folded.render(tree, context: context, title: "t", colorScheme: "orange") == FoldedRenderer.render(tree))
        #expect(text(OutputFormat.json.render(tree, context: context, title: "t")) == sampleJSON)
        #expect(text(OutputFormat.folded.render(tree, context: context, title: "t")) == sampleFolded)
        let page = OutputFormat.html.render(tree, context: context, title: "a <title>", colorScheme: "orange")
        #expect(page == HTMLRenderer.render(tree, context: context, title: "a <title>", colorScheme: "orange"))
        #expect(page != HTMLRenderer.render(tree, context: context, title: "a <title>", colorScheme: "blue-green"))
        #expect(OutputFormat.html.render(tree, context: context, title: "x")
            == HTMLRenderer.render(tree, context: context, title: "x", colorScheme: "blue-green"))
    }
}
