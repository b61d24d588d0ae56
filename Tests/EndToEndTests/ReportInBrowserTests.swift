import Foundation
import StateLab
import StateLabTestSupport
import Testing

/// `--html FILE`: one self-contained page, rendered in a real headless
/// browser (Chromium, in a network namespace of its own so nothing can leave
/// the machine): no console error, no request of its own, every run's charts,
/// and the race drawn with what each colliding increment read.
@Suite(.serialized)
struct ReportInBrowserTests {
    /// The page's `<svg class="race">` elements, each with the read values of its colliding increments.
    static func races(in html: String) -> [[Int]] {
        html.components(separatedBy: "<svg class=\"race\"").dropFirst().map { race in
            let body = race.components(separatedBy: "</svg>").first ?? ""
            return body.components(separatedBy: "<g class=\"op colliding\"").dropFirst().compactMap { op in
                let head = op.prefix { $0 != ">" }
                guard let range = head.range(of: "data-read-value=\"") else { return nil }
                return Int(head[range.upperBound...].prefix { $0.isNumber })
            }
        }
    }

    static func sections(in html: String) -> [String] {
        html.components(separatedBy: "<section class=\"run\"").dropFirst().map { $0.components(separatedBy: "</section>").first ?? "" }
    }

    @Test("compare --html (quickstart): one file under 2 MB, no request, no console error, every run's charts, a race per naive store with both reads of one value; the history exported beside it agrees",
          .enabled(if: Chromium.runs, Chromium.skipReason))
    func quickstartReport() throws {
        let work = try ScratchDirectory()
        defer { work.remove() }
        let page = work.path + "/report.html", history = work.path + "/history.jsonl"
        let result = try StatelabCLI.run(["compare", "--html", page, "--history", history, "--format", "json", "--quiet"], timeout: 600)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(result.json, "not JSON: \(result.stdout)")
        let runs = try #require(json["runs"] as? [[String: Any]])
        let ran = runs.filter { $0["skipped"] is NSNull }
        let html = try String(contentsOfFile: page, encoding: .utf8)
        let size = try #require(FileManager.default.attributesOfItem(atPath: page)[.size] as? Int)
        #expect(size < 2_000_000, "\(size) bytes")
        // Nothing outside the file: no script, style sheet, image or font from elsewhere.
        for outside in ["<script src", "<link", "<img", "url(", "@import", "http://", "https://"] {
            #expect(!html.contains(outside), "the page contains \(outside)")
        }

        let rendered = try Chromium.render(page)
        #expect(rendered.consoleErrors.isEmpty, "\(rendered.consoleErrors)")
        #expect(rendered.pageRequests.isEmpty, "the page asked for \(rendered.pageRequests)")
        let sections = Self.sections(in: rendered.dom)
        #expect(sections.count == runs.count, "\(sections.count) sections for \(runs.count) runs")
        for (section, run) in zip(sections, runs) where run["skipped"] is NSNull {
            let label = "\(run["label"] ?? "?")"
            #expect(section.contains("data-verdict=\"\(run["verdict"] as? String ?? "?")\""), "\(label)")
            for chart in ["throughput", "latency", "reads", "shares"] {
                #expect(section.contains("<svg class=\"chart \(chart)\""), "\(label) has no \(chart) chart")
            }
            // The same verdict sentence as the terminal's Verdicts section.
            if let explanation = run["explanation"] as? String {
                #expect(section.contains(Self.escaped(explanation)), "\(label): \(explanation)")
            }
            let races = Self.races(in: section)
            if run["mode"] as? String == "naive", run["strategy"] as? String != "global" {
                // statelab's own app in naive mode: every race shows what each colliding increment read, and they read one value.
                #expect(!races.isEmpty, "\(label): no race drawn")
                for reads in races {
                    #expect(reads.count >= 2 && Set(reads).count == 1, "\(label): colliding increments read \(reads)")
                }
                #expect(section.contains("so one increment was lost") || section.contains("increments were lost"), "\(label)")
            } else if run["verdict"] as? String == "ok" {
                #expect(races.isEmpty, "\(label): a race drawn for a run with none")
            }
        }
        #expect(ran.count >= 5, "\(ran.count) runs ran")
        try HistoryCheck.expectAgreement(history, runs: ran.count, label: "quickstart")
    }

    @Test("load --html on an app statelab did not launch: the outside view, said so; a report that cannot be written is one line",
          .enabled(if: Chromium.runs, Chromium.skipReason))
    func outsideView() throws {
        let (server, ready, dir) = try ServeProcessTests.serve(["--strategy", "shm", "--mode", "naive", "--race-window-us", "200"])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let work = try ScratchDirectory()
        defer { work.remove() }
        let page = work.path + "/load.html"
        let result = try StatelabCLI.run(["load", "--url", "http://127.0.0.1:\(ready.port)", "--increments", "1000",
                                          "--timeout", "60", "--html", page, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        let rendered = try Chromium.render(page)
        #expect(rendered.consoleErrors.isEmpty, "\(rendered.consoleErrors)")
        #expect(rendered.pageRequests.isEmpty, "\(rendered.pageRequests)")
        #expect(rendered.dom.contains("outside view"), "the page does not say it only has the outside view")
        #expect(!rendered.dom.contains("data-read-value"), "an app that did not say when it read has no reads drawn")
        #expect(Self.sections(in: rendered.dom).count == 1)

        let unwritable = try StatelabCLI.run(["load", "--strategy", "shm", "--increments", "10", "--html", "/nonexistent-statelab-dir/r.html"])
        #expect(unwritable.status == 2)
        #expect(unwritable.stderr.contains("--html /nonexistent-statelab-dir/r.html: the directory /nonexistent-statelab-dir does not exist"),
                "\(unwritable.stderr)")
    }

    /// Text as the page writes it.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
