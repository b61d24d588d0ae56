import Testing
@testable import StateLab

@Test func globalHasOnlyNaive() {
    #expect(Strategy.global.modes == [.naive])
    #expect(Strategy.redis.modes == [.naive, .locked, .atomic])
}
