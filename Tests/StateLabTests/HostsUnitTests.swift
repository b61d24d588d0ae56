import Foundation
import Testing
@testable import StateLab

/// The parts of `--hosts` that need no namespace: link names, fault steps and
/// plans, scenario keys, the per-host check, nginx's config, and the address
/// rule (nothing is sent to 198.18.0.0/15 unless one of statelab's links is on it).
@Suite struct HostsUnitTests {
    @Test func onlyStatelabsLinkNamesCarryAPid() {
        #expect(HostNetwork.ownerPID(ofLink: "slb1234n1") == 1234)
        #expect(HostNetwork.ownerPID(ofLink: "slv99x12") == 99)
        for other in ["slb", "slbn1", "slb12n", "slb12x1", "slv12n1", "slbkeep0", "eth0", "lo", "slh0", "slb1a2n1", "xslb12n1"] {
            #expect(HostNetwork.ownerPID(ofLink: other) == nil, "\(other)")
        }
    }

    @Test func hostStepsParseWithTheirHostNumber() throws {
        let kill = try FaultSyntax.parse("kill_host:2@at=1s")
        #expect(kill.kind == .killHost && kill.worker == .index(2) && kill.trigger == .at(1))
        #expect(kill.description == "kill_host:2@at=1s")
        #expect(try FaultSyntax.parse("restart_host").worker == .index(1))
        #expect(throws: FaultError.self) { try FaultSyntax.parse("kill_host:0") }
        #expect(throws: FaultError.self) { try FaultSyntax.parse("kill_host:holder") }
    }

    @Test func hostPlansSayWhatIsWrong() {
        let kill = FaultStep(.killHost, worker: .index(2), trigger: .at(1))
        let restart = FaultStep(.restartHost, worker: .index(2), trigger: .delay(1))
        let load = FaultLoad(duration: 5)
        #expect(FaultPlan.problems([kill, restart], strategy: .redis, mode: .atomic, workers: 2, load: load, hosts: 3).isEmpty)
        #expect(FaultPlan.problems([kill, restart], strategy: .redis, mode: .atomic, workers: 2, load: load).first?
            .contains("needs several hosts") == true)
        #expect(FaultPlan.problems([FaultStep(.killHost, worker: .index(4)), restart], strategy: .redis, mode: .atomic,
                                   workers: 2, load: load, hosts: 3).first?.contains("host 4 does not exist") == true)
        #expect(FaultPlan.problems([kill], strategy: .redis, mode: .atomic, workers: 2, load: load, hosts: 3).first?
            .contains("no restart_host") == true)
        #expect(FaultPlan.problems([FaultStep(.killHost, worker: .index(1)), kill, restart, FaultStep(.restartHost)],
                                   strategy: .redis, mode: .atomic, workers: 2, load: load, hosts: 2)
            .contains { $0.contains("last host") })
        // Workers are numbered across hosts: 2 hosts of 4 have workers 0 to 7.
        #expect(FaultPlan.problems([FaultStep(.killWorker, worker: .index(5))], strategy: .redis, mode: .atomic,
                                   workers: 4, load: load, hosts: 2).isEmpty)
        #expect(FaultPlan.problems([FaultStep(.killWorker, worker: .index(8))], strategy: .redis, mode: .atomic,
                                   workers: 4, load: load, hosts: 2).first?.contains("workers 0 to 7") == true)
        #expect(FaultPlan.problems([FaultStep(.killHost, worker: .index(2)), FaultStep(.killWorker, worker: .index(5)),
                                    FaultStep(.restartHost, worker: .index(2))],
                                   strategy: .redis, mode: .atomic, workers: 4, load: load, hosts: 2)
            .contains { $0.contains("while its host 2 is down") })
        #expect(FaultPlan.problems([FaultStep(.killStore), FaultStep(.restartStore, trigger: .delay(1))],
                                   strategy: .sqlite, mode: .atomic, workers: 2, load: load, hosts: 3).first?
            .contains("use kill_host and restart_host") == true)
    }

    @Test func scenariosTakeHostsAndHostSteps() throws {
        let scenario = try ScenarioLoader.parse(yaml: """
            name: h
            app: {hosts: 3, workers: 2}
            load: {duration: 4s}
            runs:
              - strategy: redis
                mode: atomic
                faults: [{kill_host: {host: 2, at: 1s}}, {restart_host: {host: 2, delay: 1s}}]
            """, path: "test")
        #expect(scenario.runs[0].app.hosts == 3)
        #expect(scenario.runs[0].faults.map(\.description) == ["kill_host:2@at=1s", "restart_host:2@delay=1s"])
        #expect(throws: (any Error).self) {
            try ScenarioLoader.parse(yaml: "name: h\napp: {hosts: 17}\nruns: [{strategy: shm}]\n", path: "test")
        }
        #expect(throws: (any Error).self) {
            try ScenarioLoader.parse(yaml: """
                name: h
                app: {hosts: 3}
                runs:
                  - strategy: redis
                    faults: [{kill_worker: {host: 2}}]
                """, path: "test")
        }
    }

    func ok(_ count: Int, pid: Int32, _ start: UInt64) -> IncrementRecord {
        IncrementRecord(outcome: .ok, count: count, pid: pid, start: start, end: start + 5)
    }

    func final(_ value: Int, pid: Int32, host: Int, at start: UInt64 = 1_000) -> ReadRecord {
        var read = ReadRecord(pid: pid, worker: nil, value: value, start: start, end: start + 5)
        read.host = host
        return read
    }

    /// Two hosts, two workers each; each host's counter counts its own increments.
    static let hosts: @Sendable (Int32) -> Int? = { [1: 0, 2: 0, 3: 1, 4: 1][$0] }

    @Test func aCounterPerHostIsSplitEvenWhenTheHostsHoldTheSameCount() {
        let increments = [ok(1, pid: 1, 10), ok(2, pid: 2, 20), ok(1, pid: 3, 30), ok(2, pid: 4, 40)]
        let finals = [final(2, pid: 1, host: 0), final(2, pid: 2, host: 0), final(2, pid: 3, host: 1), final(2, pid: 4, host: 1)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true,
                                   hostOf: Self.hosts)
        // Count 1 and 2 twice each: on different hosts, not duplicates.
        #expect(result.duplicates == 0)
        #expect(result.lost == 0 && result.final == 4)
        #expect(result.divergent && result.verdict == .divergent)
        #expect(result.hosts?.map(\.high) == [2, 2] && result.hosts?.allSatisfy(\.agree) == true)
        #expect(result.explanation.contains("2 hosts hold 2 separate counts that happen to be equal"))
        #expect(result.explanation.contains("within each host its 2 workers agree"))
        // Checked as one store shared by every host, the same history loses half.
        #expect(Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true).lost == 2)
    }

    @Test func aLostUpdateWithinOneHostIsStillLost() {
        // Host 0's two workers both answered count 1: one overwrote the other.
        let increments = [ok(1, pid: 1, 10), ok(1, pid: 2, 12), ok(1, pid: 3, 30)]
        let finals = [final(1, pid: 1, host: 0), final(1, pid: 2, host: 0), final(1, pid: 3, host: 1), final(1, pid: 4, host: 1)]
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true,
                                   hostOf: Self.hosts)
        #expect(result.duplicates == 1 && result.lost == 1)
        #expect(result.verdict == .lostUpdates)
    }

    @Test func oneHostWithANetworkStoreIsNotSplit() {
        let increments = [ok(1, pid: 1, 10), ok(2, pid: 3, 20)]
        let finals = [final(2, pid: 1, host: 0), final(2, pid: 3, host: 1)]
        // redis or postgres: one counter for every host (no hostOf).
        let result = Checker.check(History(increments: increments, reads: finals, finalReads: finals), shared: true)
        #expect(result.verdict == .ok && !result.divergent && result.lost == 0)
        #expect(StoreCount.perHost(finals) == 4 && StoreCount.of(finals.map(\.value), shared: true) == 2)
    }

    @Test func nginxSpreadsOverEveryHostAndMarksAFailedOneDown() {
        let text = NginxProcess.config(port: 4321, upstreams: ["198.18.0.10:8000", "198.18.0.11:8000"], directory: "/x")
        #expect(text.contains("listen 127.0.0.1:4321"))
        #expect(text.contains("server 198.18.0.10:8000 max_fails=1 fail_timeout=\(NginxProcess.failTimeout)s;"))
        #expect(text.contains("server 198.18.0.11:8000"))
        #expect(text.contains("master_process off"))
        #expect(!text.contains("non_idempotent"))
    }

    /// An address in the hosts' range that no link of this machine is on is
    /// refused before any socket exists; loopback still passes.
    @Test func aHostAddressWithoutItsLinkIsRefused() {
        let taken = RouteTable.prefixes()
        // A /27 of 198.18.0.0/15 no link here is on (the tests' own hosts come and go).
        let slotMask: UInt32 = ~0 << 5
        var free: UInt32?
        for slot in 0..<UInt32(4096) {
            let base = HostSubnet.rangeBase + slot << 5
            let overlaps = taken.contains { prefix in
                let mask = min(prefix.mask, slotMask)
                return prefix.network & mask == base & mask
            }
            if !overlaps {
                free = base
                break
            }
        }
        guard let free else { return }
        let address = HostSubnet(base: free).address(10)
        #expect(LoopbackHost.literal(address) == nil)
        #expect(throws: LoopbackHost.Refusal.self) { try LoopbackHost.address(host: address, port: 8000) }
        #expect(LoopbackHost.literal("127.0.0.1") == "127.0.0.1")
    }
}

/// --allow-remote takes one numeric address, never a name or a range.
@Suite struct AllowRemoteTests {
    @Test func onlyOneNumericAddressIsAllowed() throws {
        for bad in ["staging.example", "", "0.0.0.0", "255.255.255.255", "224.0.0.1", "10.0.0.0/8", "::", "ff02::1"] {
            #expect(throws: LoopbackHost.Refusal.self, "\(bad)") { try LoopbackHost.allowRemote(bad) }
        }
        // An address from the documentation range (RFC 5737): allowed only once named, and only it.
        #expect(LoopbackHost.literal("192.0.2.77") == nil)
        try LoopbackHost.allowRemote("192.0.2.77")
        #expect(LoopbackHost.literal("192.0.2.77") == "192.0.2.77")
        #expect(LoopbackHost.isRemote("192.0.2.77"))
        #expect(LoopbackHost.literal("192.0.2.78") == nil)
        #expect(!LoopbackHost.isRemote("127.0.0.1"))
    }
}
