/// The checker's figures and what they mean in plain words.
enum VerdictPanel {
    /// Borders, the figures (one or two lines, by width), the explanation and the witnesses.
    static func height(_ model: DashboardModel, width: Int) -> Int {
        let positions = layout(figures(model), innerWidth: width - 4)
        return 2 + (positions.last?.line ?? 0) + 1 + explanationLines(model, width: width - 4).count + 1
            + min(2, model.diagnosis.count) + (model.totals.check?.restarts.isEmpty == false ? 1 : 0)
    }

    private typealias Figure = (label: String, value: String, style: CellStyle)

    /// The check's figures; while a burst runs, its live count and the store's last read,
    /// with lost and duplicates left for the check.
    private static func figures(_ model: DashboardModel) -> [Figure] {
        if model.burst != nil, let live = model.live {
            var figures: [Figure] = [
                ("live acknowledged ", Format.count(live.acknowledged), .bold),
                ("store read ", live.storeRead.map(Format.count) ?? "–", .bold),
                ("lost ", "after the check", .dim),
            ]
            if live.failed > 0 || live.indeterminate > 0 {
                figures.append(("failed ", Format.count(live.failed), .role(live.failed > 0 ? .warn : .normal)))
                figures.append(("uncertain ", Format.count(live.indeterminate), .role(live.indeterminate > 0 ? .warn : .normal)))
            }
            return figures
        }
        let t = model.totals
        let divergent = t.check?.divergent == true
        var figures: [Figure] = [
            ("acknowledged ", Format.count(t.acknowledged), .bold),
            ("store ", t.storeValue.map(Format.count) ?? "–", .bold),
            ("lost ", "\(Format.count(t.lost)) (\(Format.percent(t.lostPercent)))", .role(t.lost > 0 ? .bad : .good, bold: true)),
            ("duplicates ", Format.count(t.duplicates), .role(t.duplicates > 0 ? .bad : .good, bold: true)),
            ("divergent ", divergent ? "yes" : "no", .role(divergent ? .bad : .good, bold: true)),
        ]
        if t.failed > 0 || t.indeterminate > 0 {
            figures.append(("failed ", Format.count(t.failed), .role(t.failed > 0 ? .warn : .normal)))
            figures.append(("uncertain ", Format.count(t.indeterminate), .role(t.indeterminate > 0 ? .warn : .normal)))
        }
        if let lost = t.check?.lostToRestart {
            figures.append(("lost to restarts ", Format.count(lost), .role(lost > 0 ? .bad : .good, bold: true)))
        }
        return figures
    }

    /// The explanation over at most two lines, broken at a space; the second is cut at the width.
    static func explanationLines(_ model: DashboardModel, width: Int) -> [String] {
        let text = model.explanation.text
        guard text.count > width, width > 0 else { return [text] }
        let head = text.prefix(width)
        guard let space = head.lastIndex(of: " ") else { return [String(head)] }
        return [String(text[..<space]), String(text[text.index(after: space)...])]
    }

    /// Figures flow over as many lines as they need: (line, column) of each.
    private static func layout(_ figures: [Figure], innerWidth: Int) -> [(line: Int, column: Int)] {
        var positions: [(line: Int, column: Int)] = []
        var line = 0
        var x = 0
        for figure in figures {
            let width = figure.label.count + figure.value.count
            if x > 0, x + width > innerWidth {
                line += 1
                x = 0
            }
            positions.append((line, x))
            x += width + 3
        }
        return positions
    }

    static func draw(_ model: DashboardModel, into screen: inout ScreenBuffer, at rect: Rect) {
        screen.box(row: rect.row, column: rect.column, width: rect.width, height: rect.height, title: "verdict")
        let inner = rect.inside
        let t = model.totals
        let figures = figures(model)
        let positions = layout(figures, innerWidth: inner.width)
        for (figure, position) in zip(figures, positions) {
            let x = screen.put(figure.label, row: inner.row + position.line, column: inner.column + position.column, style: .dim)
            screen.put(figure.value, row: inner.row + position.line, column: x, style: figure.style)
        }
        var row = inner.row + (positions.last?.line ?? 0) + 1
        let explanation = model.explanation
        for line in explanationLines(model, width: inner.width) where row < inner.row + inner.height {
            screen.put(line, row: row, column: inner.column, style: .role(explanation.role, bold: true), limit: inner.width)
            row += 1
        }
        // The last restart's judgement, in the report's words ("store restart at 1.20 s: 300 before, 0 after: not durable ...").
        if row < inner.row + inner.height, let restart = t.check?.restartSentences.last, model.burst == nil {
            let role: ColorRole = switch t.check?.restarts.last?.durable { case true?: .good; case false?: .bad; case nil: .warn }
            screen.put(restart, row: row, column: inner.column, style: .role(role, bold: true), limit: inner.width)
            row += 1
        }
        if row < inner.row + inner.height, !t.witnesses.isEmpty {
            let witnesses = t.witnesses.prefix(3).map { witness in
                "\(witness.count) from workers " + witness.workers.map(String.init).joined(separator: ",")
            }
            // With a race kept, the key that draws it, after as many witnesses as leave it room.
            let hint = model.race == nil ? "" : KeyBindings.keyNames(of: .showRace).map { "  (\($0) shows the race)" } ?? ""
            var line = "witnesses: " + witnesses[0]
            for witness in witnesses.dropFirst() where line.count + 3 + witness.count + hint.count <= inner.width {
                line += " · " + witness
            }
            screen.put(line + hint, row: row, column: inner.column, style: .dim, limit: inner.width)
            row += 1
        }
        for line in model.diagnosis.prefix(2) where row < inner.row + inner.height {
            screen.put("▸ " + line, row: row, column: inner.column, style: .role(.warn), limit: inner.width)
            row += 1
        }
    }
}
