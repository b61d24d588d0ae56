import Testing
import StateLab
@Test func endToEndPlaceholder() { #expect(Strategy.allCases.count == 5) }
