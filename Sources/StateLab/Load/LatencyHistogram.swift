import Histogram

/// Latencies in microseconds, from 1 µs to 10 minutes at 3 significant digits.
enum LatencyHistogram {
    static let highestMicroseconds: UInt64 = 600_000_000

    static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    @inline(__always)
    static func record(nanoseconds: UInt64, into histogram: inout Histogram<UInt64>) {
        let micros = min(max(nanoseconds / 1_000, 1), highestMicroseconds)
        _ = histogram.record(micros)
    }

    static func milliseconds(_ micros: UInt64) -> Double { Double(micros) / 1_000 }
}

extension LatencySummary {
    init(_ histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else {
            self.init()
            return
        }
        self.init(
            p50: LatencyHistogram.milliseconds(histogram.valueAtPercentile(50)),
            p90: LatencyHistogram.milliseconds(histogram.valueAtPercentile(90)),
            p99: LatencyHistogram.milliseconds(histogram.valueAtPercentile(99)),
            p999: LatencyHistogram.milliseconds(histogram.valueAtPercentile(99.9)),
            max: LatencyHistogram.milliseconds(histogram.maxRecorded)
        )
    }
}
