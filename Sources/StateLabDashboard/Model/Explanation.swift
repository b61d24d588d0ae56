import StateLab

/// The verdict box's sentence, in the colour its verdict calls for.
public struct Explanation: Sendable, Equatable {
    public var text: String
    public var role: ColorRole

    public init(text: String, role: ColorRole) {
        self.text = text
        self.role = role
    }
}

extension DashboardModel {
    /// The check's verdict and its sentence (`CheckResult.explanation`, the
    /// words `compare` prints), or, with no check to show, what is going on.
    /// Nothing here judges: a burst in flight is labelled live, unchecked.
    public var explanation: Explanation {
        if burst != nil, let live {
            return Explanation(text: "live: \(Format.count(live.acknowledged)) acknowledged so far; the verdict comes when the burst is checked",
                               role: .muted)
        }
        guard let check = totals.check else {
            return Explanation(text: "no increments yet: press space to fire a burst", role: .muted)
        }
        return Explanation(text: "\(check.verdict.rawValue): \(check.explanation)", role: Self.role(of: check.verdict))
    }

    static func role(of verdict: Verdict) -> ColorRole {
        switch verdict {
        case .ok: .good
        case .lostUpdates, .overLimit, .divergent: .bad
        case .errors, .unknown: .warn
        }
    }

    /// Acknowledged increments as the rows compare against them: the burst's
    /// live count while one runs, else the check's.
    public var acknowledgedNow: Int {
        burst != nil ? live?.acknowledged ?? totals.acknowledged : totals.acknowledged
    }
}
