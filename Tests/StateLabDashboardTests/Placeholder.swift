import Testing
import StateLab

@Test func dashboardPlaceholder() {
    #expect(Strategy.global.modes == [.naive])
    #expect(Strategy.redis.modes == [.naive, .locked, .atomic])
}
