import StateLab
import Testing

struct PostgresURLTests {
    @Test("a full URL: user, password, host, port, database")
    func full() throws {
        let url = try PostgresURL(parsing: "postgres://app:s%40cret@127.0.0.1:6543/counter")
        #expect(url == PostgresURL(host: "127.0.0.1", port: 6543, user: "app", password: "s@cret", database: "counter"))
        #expect(url.description == "postgres://app:***@127.0.0.1:6543/counter")
        #expect(try PostgresURL(parsing: url.secretText) == url, "the URL handed to an app parses back the same")
    }

    @Test("defaults: port 5432, the database named after the user; postgresql:// works too")
    func defaults() throws {
        let url = try PostgresURL(parsing: "postgresql://bob@localhost")
        #expect(url == PostgresURL(host: "localhost", port: 5432, user: "bob", password: nil, database: "bob"))
        #expect(try PostgresURL(parsing: "postgres://bob@[::1]:5433/x").host == "::1")
    }

    @Test("each bad URL is refused with what was wrong, and the password is never echoed",
          arguments: [
              ("http://u:pw@h/db", "scheme"),
              ("postgres://h:5432/db", "name the user"),
              ("postgres://u:pw@h:99999/db", "port"),
              ("postgres://u:pw@h/db?sslmode=require", "query options"),
              ("postgres://u:pw@:5432/db", "missing host"),
              ("127.0.0.1:5432", "expected postgres://"),
          ])
    func refused(_ text: String, _ why: String) {
        do {
            _ = try PostgresURL(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            let message = "\(error)"
            #expect(message.contains(why), "\(message)")
            #expect(!message.contains(":pw@"), "password echoed: \(message)")
        }
    }

    @Test("modes are per strategy: serializable is postgres's only, and the others refuse it with the choices")
    func modesPerStrategy() {
        #expect(Strategy.postgres.modes == [.naive, .locked, .atomic, .serializable])
        for strategy in Strategy.allCases where strategy != .postgres {
            #expect(!strategy.modes.contains(.serializable))
            let problem = AppConfig(strategy: strategy, mode: .serializable).problems().first ?? ""
            #expect(problem.contains("no serializable mode"), "\(strategy): \(problem)")
        }
        #expect(AppConfig(strategy: .postgres, mode: .serializable).problems().isEmpty)
        #expect(AppConfig(strategy: .postgres, mode: .atomic,
                          postgres: PostgresOptions(connections: 0)).problems().first?.contains("--postgres-connections") == true)
    }
}
