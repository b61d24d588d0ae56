import ArgumentParser
import StateLab

/// The requests of the user's own app (--url or --app-command), shared by
/// load, compare and dashboard: its operation, its read, its reset, what its
/// answers mean, and the limit it promises. Without any, the counter API.
struct RequestOptions: ParsableArguments {
    @Option(name: .customLong("op"), help: ArgumentHelp("The app's operation: 'METHOD /path [FIELD]', FIELD where its JSON answer carries the count (optional), e.g. 'POST /posts/1/like likes'. Default: POST /increment, field count.", valueName: "request"))
    var op: String?

    @Option(name: .customLong("body"), help: "The operation's body (JSON is sent as application/json), e.g. '{\"sku\": \"A1\"}'.")
    var body: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("A header sent with every request: 'Name: value'. Repeatable.", valueName: "header"))
    var headers: [String] = []

    @Option(name: .customLong("read"), help: ArgumentHelp("How to read the value: 'METHOD /path FIELD', FIELD a name or dotted path in the JSON answer, e.g. 'GET /posts/1 likes'. With --op and no --read, nothing is read (give --limit).", valueName: "request"))
    var read: String?

    @Option(name: .customLong("reset"), help: ArgumentHelp("A request that puts the state back: 'METHOD /path'. Without one, statelab reads a baseline first.", valueName: "request"))
    var reset: String?

    @Option(name: .customLong("refused"), help: ArgumentHelp("4xx statuses the app gives when it refuses on purpose: certainly not applied, counted as refused.", valueName: "codes"))
    var refused: String = "409,429"

    @Option(name: .customLong("step"), parsing: .unconditional, help: "What one applied operation adds to the value read: 1, or -1 for a stock counted down.")
    var step: Int = 1

    @Option(name: .customLong("limit"), help: ArgumentHelp("The limit the app promises across all workers: N in all (a stock, a coupon), or N per window, e.g. 100/1m, 50/minute.", valueName: "limit"))
    var limit: String?

    @Option(name: .customLong("limit-algorithm"), help: ArgumentHelp("How the limiter's window works, so a correct one is never blamed: fixed (default; may accept 2N across a window boundary), moving (N in any window), token-bucket[:BURST] (GCRA).", valueName: "algorithm"))
    var limitAlgorithm: String?

    @Option(name: .customLong("allow-remote"), help: ArgumentHelp("Let --url name this one host off this machine (a numeric address; names are never resolved), e.g. a staging server. Off by default: a load tester that can be pointed anywhere is a weapon. Its workers are named by their answers (X-Worker-Pid, X-Worker-Host), as /proc cannot see them.", valueName: "address"))
    var allowRemote: [String] = []

    /// Permits the --allow-remote addresses; call before parsing --url.
    func permitRemote() throws {
        for host in allowRemote {
            do { try LoopbackHost.allowRemote(host) } catch { throw ValidationError("\(error)") }
        }
    }

    /// Whether any request flag was given.
    var given: Bool {
        op != nil || body != nil || !headers.isEmpty || read != nil || reset != nil || refused != "409,429" || step != 1
            || limit != nil || limitAlgorithm != nil
    }

    /// The app's requests (the counter API with `fields` when no flag names others); one line on bad input.
    func requests(fields: AnswerFields) throws -> AppRequests {
        var requests = AppRequests.counterAPI
        requests.name(fields)
        do {
            let headerList = try headers.map(RequestSpec.header(parsing:))
            if let op {
                let parsed = try RequestSpec.parse(op, what: "--op")
                requests.op = parsed.request
                requests.opField = parsed.field
                requests.read = nil
                requests.reset = nil
            }
            if let body { requests.op.body = body }
            if let read {
                let parsed = try RequestSpec.parse(read, what: "--read")
                guard let field = parsed.field else {
                    throw ValidationError("--read '\(read)' names no field: add where the value is in its JSON answer, e.g. '\(read) likes'")
                }
                requests.read = parsed.request
                requests.readField = field
            }
            if let reset { requests.reset = try RequestSpec.parse(reset, what: "--reset").request }
            requests.op.headers = headerList
            requests.read?.headers = headerList
            requests.reset?.headers = headerList
            requests.refused = try Self.statuses(refused)
            requests.step = step
            if let limit {
                var parsed = try LimitSpec.parse(limit)
                if let limitAlgorithm {
                    parsed.algorithm = try LimitAlgorithm.parse(limitAlgorithm, limit: parsed.count)
                    parsed.assumed = false
                }
                requests.limit = parsed
            } else if limitAlgorithm != nil {
                throw ValidationError("--limit-algorithm needs --limit N/WINDOW")
            }
        } catch let error as StoreError {
            throw ValidationError(error.message)
        }
        if let problem = requests.problem { throw ValidationError(problem) }
        return requests
    }

    static func statuses(_ text: String) throws -> Set<Int> {
        var codes = Set<Int>()
        for part in text.split(separator: ",") {
            guard let code = Int(part.trimmingCharacters(in: .whitespaces)), (400..<500).contains(code) else {
                throw ValidationError("--refused '\(text)': '\(part)' is not a 4xx status; write it like 409,429")
            }
            codes.insert(code)
        }
        return codes
    }
}
