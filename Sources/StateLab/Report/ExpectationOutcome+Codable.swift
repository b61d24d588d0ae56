// ExpectationOutcome lives with the scenario types; runs are Codable (the
// runner may hand them between processes), so its coding is written here.
// Decoding keeps the stored verdict rather than re-evaluating it.
extension ExpectationOutcome: Codable {
    private enum CodingKeys: String, CodingKey {
        case expectation, actual, holds
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let expectation = try container.decode(Expectation.self, forKey: .expectation)
        let actual = try container.decodeIfPresent(ResultValue.self, forKey: .actual)
        self.init(expectation: expectation, fields: actual.map { [expectation.field: $0] } ?? [:])
        self.holds = try container.decode(Bool.self, forKey: .holds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(expectation, forKey: .expectation)
        try container.encodeIfPresent(actual, forKey: .actual)
        try container.encode(holds, forKey: .holds)
    }
}
