import Foundation
import Yams

/// A target's own requests: `op`, `read`, `reset`, `headers`, `refused`,
/// `step` and `limit` beside `command` or `url` (Scenarios/README.md).
extension ScenarioDecoder {
    static let requestKeys = ["op", "read", "reset", "headers", "refused", "step", "limit"]
    static let requestSpecKeys = ["method", "path", "body", "headers", "field"]
    static let limitKeys = ["count", "window", "algorithm"]

    /// The requests a target names, or the counter API (with `fields`) when it names none.
    func requests(_ fields: NodeReader.Fields, context: String, answerFields: AnswerFields) throws -> AppRequests {
        var requests = AppRequests.counterAPI
        requests.name(answerFields)
        guard Self.requestKeys.contains(where: { fields[$0] != nil }) else { return requests }
        let headers = try fields["headers"].map { try self.headers($0, context: "\(context) headers") } ?? []
        if let node = fields["op"] {
            let (request, field) = try self.request(node, "op", example: "op: {method: POST, path: /posts/1/like, field: likes}")
            requests.op = request
            requests.opField = field
            requests.read = nil
            requests.reset = nil
        }
        if let node = fields["read"] {
            let (request, field) = try self.request(node, "read", example: "read: {method: GET, path: /posts/1, field: likes}")
            guard let field else {
                throw reader.error(at: node, "read names no field", "add where the value is in its JSON answer, e.g. read: \"GET /posts/1 likes\"")
            }
            requests.read = request
            requests.readField = field
        }
        if let node = fields["reset"] {
            requests.reset = try self.request(node, "reset", example: "reset: \"POST /posts/1/likes/reset\"").request
        }
        requests.op.headers = headers + requests.op.headers
        let readHeaders = requests.read?.headers ?? [], resetHeaders = requests.reset?.headers ?? []
        requests.read?.headers = headers + readHeaders
        requests.reset?.headers = headers + resetHeaders
        if let node = fields["refused"] {
            let codes: [Node]
            if case .sequence(let items) = node { codes = Array(items) } else { codes = [node] }
            requests.refused = Set(try codes.map { try reader.integer($0, "refused", in: 400...499) })
        }
        if let node = fields["step"] {
            requests.step = try reader.integer(node, "step", in: -1...1)
            guard requests.step != 0 else {
                throw reader.error(at: node, "step is 0", "write step: 1 (a counter) or step: -1 (a stock counted down)")
            }
        }
        if let node = fields["limit"] { requests.limit = try limit(node) }
        if let problem = requests.problem {
            throw reader.error(at: fields["op"] ?? fields.node, problem, "see Scenarios/README.md, \"Your own app's requests\"")
        }
        return requests
    }

    /// "POST /path [field]", or {method, path, body, headers, field}.
    private func request(_ node: Node, _ name: String, example: String) throws -> (request: RequestSpec, field: FieldPath?) {
        do {
            if case .mapping = node {
                let fields = try reader.mapping(node, name, allowed: Self.requestSpecKeys, example: example)
                let method = try fields["method"].map { try reader.text($0, "method", example: "method: POST") } ?? (name == "read" ? "GET" : "POST")
                let path = try reader.text(try fields.require("path", example: "path: /posts/1/like"), "path", example: "path: /posts/1/like")
                var (request, _) = try RequestSpec.parse("\(method) \(path)", what: name)
                if let body = fields["body"] { request.body = try json(body) }
                if let headers = fields["headers"] { request.headers = try self.headers(headers, context: "\(name) headers") }
                let field = try fields["field"].map { try FieldPath(parsing: try reader.text($0, "field", example: "field: likes"), what: name) }
                return (request, field)
            }
            return try RequestSpec.parse(try reader.text(node, name, example: example), what: name)
        } catch let error as StoreError {
            throw reader.error(at: node, error.message, "write \(example)")
        }
    }

    private func headers(_ node: Node, context: String) throws -> [RequestSpec.Header] {
        guard case .mapping(let pairs) = node else {
            throw reader.error(at: node, "\(context) must be a mapping, got \(NodeReader.describe(node))", "write headers: {Authorization: Bearer abc}")
        }
        return try pairs.map { key, value in
            let name = try reader.text(key, "a header name", example: "headers: {X-Api-Key: abc}")
            let text = try reader.scalar(value, name, expecting: "a value", example: "headers: {\(name): value}").string
            do { return try RequestSpec.header(parsing: "\(name): \(text)") } catch let error as StoreError {
                throw reader.error(at: key, error.message, "write headers: {X-Api-Key: abc}")
            }
        }
    }

    /// `limit: 100`, `limit: 100/1m`, or {count, window, algorithm}.
    private func limit(_ node: Node) throws -> LimitSpec {
        do {
            if case .mapping = node {
                let fields = try reader.mapping(node, "limit", allowed: Self.limitKeys, example: "limit: {count: 100, window: 1m, algorithm: fixed}")
                let count = try reader.integer(try fields.require("count", example: "count: 100"), "count", in: InputLimits.limitCount)
                var spec = LimitSpec(count: count)
                if let window = fields["window"] {
                    spec = try LimitSpec.parse("\(count)/\(try reader.text(window, "window", example: "window: 1m"))")
                }
                if let algorithm = fields["algorithm"] {
                    guard spec.window != nil else {
                        throw reader.error(at: algorithm, "algorithm without a window", "add window: 1m, or drop algorithm for a limit in all")
                    }
                    spec.algorithm = try LimitAlgorithm.parse(try reader.text(algorithm, "algorithm", example: "algorithm: moving"), limit: count)
                    spec.assumed = false
                }
                return spec
            }
            return try LimitSpec.parse(try reader.text(node, "limit", example: "limit: 100/1m"))
        } catch let error as StoreError {
            throw reader.error(at: node, error.message, "write limit: 100 (in all) or limit: 100/1m")
        }
    }

    /// A YAML body as JSON text: a mapping or list becomes a JSON object or array, text is sent as written.
    private func json(_ node: Node) throws -> String {
        if case .scalar(let scalar) = node, NodeReader.tagName(node) == Tag.Name.str.rawValue { return scalar.string }
        return value(node).text(indent: nil)
    }

    private func value(_ node: Node) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            return .object(mapping.map { key, value in (key.string ?? "", self.value(value)) })
        case .sequence(let items):
            return .array(items.map { self.value($0) })
        case .scalar(let scalar):
            switch NodeReader.tagName(node) {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return .bool(node.bool ?? false)
            case Tag.Name.int.rawValue: return node.int.map(JSONValue.int) ?? .string(scalar.string)
            case Tag.Name.float.rawValue: return node.float.map(JSONValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        default:
            return .null
        }
    }
}
