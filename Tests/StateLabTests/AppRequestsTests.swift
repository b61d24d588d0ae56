import Foundation
import Testing
@testable import StateLab

/// The syntax people type for their app's requests and limits.
@Suite struct AppRequestsTests {
    @Test func aRequestIsAMethodAPathAndMaybeAField() throws {
        let like = try RequestSpec.parse("POST /posts/1/like likes", what: "--op")
        #expect(like.request == RequestSpec(method: "POST", path: "/posts/1/like") && like.field == FieldPath("likes"))
        let read = try RequestSpec.parse("get /stock/A1 data.stock", what: "--read")
        #expect(read.request.method == "GET" && read.field?.components == ["data", "stock"])
        #expect(try RequestSpec.parse("POST /checkout", what: "--op").field == nil)
        for bad in ["POST", "/posts/1", "POST posts/1", "POST /a b c d", "P0ST /a", "POST /a\u{7}b", "POST /a x..y"] {
            #expect(throws: StoreError.self, "\(bad)") { try RequestSpec.parse(bad, what: "--op") }
        }
    }

    @Test func aHeaderCannotSplitTheRequest() throws {
        #expect(try RequestSpec.header(parsing: "Authorization:  Bearer abc ") == RequestSpec.Header(name: "Authorization", value: "Bearer abc"))
        for bad in ["NoColon", ": value", "Bad Name: x", "X-Evil: a\r\nInjected: 1", "Content-Length: 5", "Host: example.com"] {
            #expect(throws: StoreError.self, "\(bad)") { try RequestSpec.header(parsing: bad) }
        }
    }

    @Test func theEncodedRequestCarriesTheBodyAndHeaders() {
        let request = RequestSpec(method: "POST", path: "/checkout", headers: [.init(name: "X-Api-Key", value: "k")], body: #"{"sku": "A1"}"#)
        let text = String(decoding: request.encoded(host: "127.0.0.1", port: 8000), as: UTF8.self)
        #expect(text == "POST /checkout HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 13\r\nContent-Type: application/json\r\nX-Api-Key: k\r\n\r\n{\"sku\": \"A1\"}")
    }

    @Test func aFieldIsFoundFlatOrNested() {
        let body = Array(#"{"data": {"stock": 7, "flag": true, "text": "12", "list": [4, 5]}, "likes": -3}"#.utf8)
        #expect(FieldPath("likes").integer(in: body) == -3)
        #expect(FieldPath("data.stock").integer(in: body) == 7)
        #expect(FieldPath("data.text").integer(in: body) == 12)
        #expect(FieldPath("data.list.1").integer(in: body) == 5)
        #expect(FieldPath("data.flag").integer(in: body) == nil)
        #expect(FieldPath("data.missing").integer(in: body) == nil)
        #expect(FieldPath("data.stock").integer(in: Array("not json".utf8)) == nil)
    }

    @Test func limitsReadAsPeopleWriteThem() throws {
        #expect(try LimitSpec.parse("100") == LimitSpec(count: 100))
        #expect(try LimitSpec.parse("100/1m") == LimitSpec(count: 100, window: 60, assumed: true))
        #expect(try LimitSpec.parse("50 per minute").window == 60)
        #expect(try LimitSpec.parse("10/s").window == 1)
        #expect(try LimitSpec.parse("5/500ms").window == 0.5)
        for bad in ["", "0", "-1", "ten", "100/", "100/fortnight", "100/0s", "1e9"] {
            #expect(throws: StoreError.self, "\(bad)") { try LimitSpec.parse(bad) }
        }
        #expect(try LimitAlgorithm.parse("moving", limit: 5) == .moving)
        #expect(try LimitAlgorithm.parse("gcra:20", limit: 5) == .tokenBucket(burst: 20))
        #expect(try LimitAlgorithm.parse("token-bucket", limit: 5) == .tokenBucket(burst: 5))
        #expect(throws: StoreError.self) { try LimitAlgorithm.parse("leaky", limit: 5) }
        #expect(throws: StoreError.self) { try LimitAlgorithm.parse("gcra:0", limit: 5) }
    }

    @Test func aRunNeedsSomethingToCheck() {
        var requests = AppRequests.counterAPI
        #expect(requests.problem == nil)
        requests.read = nil
        #expect(requests.problem?.contains("nothing to check") == true)
        requests.limit = LimitSpec(count: 10)
        #expect(requests.problem == nil)
        requests.refused = [500]
        #expect(requests.problem?.contains("4xx") == true)
    }

    @Test func aScenarioTargetNamesItsOwnRequests() throws {
        let yaml = """
            name: shop
            load: {increments: 10}
            runs:
              - name: checkout
                target:
                  command: "uvicorn checkout:app --port {port}"
                  headers: {X-Api-Key: abc}
                  op: {method: POST, path: /checkout, body: {sku: A1, qty: 1}, field: stock}
                  read: "GET /stock/A1 stock"
                  reset: "POST /stock/A1/reset"
                  refused: [409]
                  step: -1
                  limit: 100
              - name: ping
                target:
                  url: http://127.0.0.1:8000
                  op: "POST /api/ping"
                  limit: {count: 50, window: 1m, algorithm: moving}
            """
        let scenario = try ScenarioLoader.parse(yaml: yaml, path: "shop.yaml")
        let checkout = try #require(scenario.runs.first?.target)
        let requests = checkout.requests
        #expect(requests.op.body == #"{"sku":"A1","qty":1}"#)
        #expect(requests.op.headers == [.init(name: "X-Api-Key", value: "abc")] && requests.read?.headers == requests.op.headers)
        #expect(requests.opField == FieldPath("stock") && requests.read?.path == "/stock/A1" && requests.reset?.path == "/stock/A1/reset")
        #expect(requests.refused == [409] && requests.step == -1 && requests.limit == LimitSpec(count: 100))
        guard case .command(let spec, _, _) = checkout else { Issue.record("not a command"); return }
        #expect(spec.readyPath == "/stock/A1", "the read is the ready path unless ready: names one")
        let ping = try #require(scenario.runs.last?.target).requests
        #expect(ping.read == nil && ping.limit == LimitSpec(count: 50, window: 60, algorithm: .moving))
        for (bad, expected) in [("op: \"POST\"", "not METHOD /path"), ("op: \"POST /a\"\n      step: 2", "out of range"),
                                ("op: \"POST /a\"", "nothing to check"), ("op: \"POST /a\"\n      limit: 100/fortnight", "not a window"),
                                ("read: \"GET /a\"", "names no field")] {
            let text = "name: x\nload: {increments: 10}\nruns:\n  - target:\n      url: http://127.0.0.1:8000\n      \(bad)\n"
            let error = #expect(throws: ScenarioError.self) { try ScenarioLoader.parse(yaml: text, path: "x.yaml") }
            #expect(error.map { "\($0)".contains(expected) } == true, "\(bad): \(error.map { "\($0)" } ?? "")")
        }
    }
}
