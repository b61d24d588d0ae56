import StateLab

/// One row of the key table.
public struct KeyBinding: Sendable, Equatable {
    public var keys: [Key]
    /// The key as the footer shows it ("Spc", "+"); nil keeps the binding out of the footer.
    public var footerKey: String?
    /// The footer's word for it; adjacent bindings with the same label share one footer item ("+- conns").
    public var footerLabel: String
    /// The help overlay's sentence.
    public var help: String
    public var command: KeyCommand

    public init(_ keys: [Key], footer footerKey: String?, _ footerLabel: String, help: String, _ command: KeyCommand) {
        self.keys = keys
        self.footerKey = footerKey
        self.footerLabel = footerLabel
        self.help = help
        self.command = command
    }

    /// "? / F1", as the help overlay lists the keys.
    public var keyNames: String { keys.map(\.name).joined(separator: " / ") }
}

/// The one table that dispatches keys and generates the footer and the help overlay.
public enum KeyBindings {
    public static let table: [KeyBinding] = [
        KeyBinding([.space], footer: "Spc", "burst", help: "fire a burst of increments", .fireBurst),
        KeyBinding([.character("s")], footer: "s", "strategy", help: "pick the strategy (unavailable ones say why)", .openStrategyPicker),
        KeyBinding([.character("m")], footer: "m", "mode", help: "pick the mode: naive, locked or atomic", .openModePicker),
        KeyBinding([.character("+"), .character("=")], footer: "+", "conns", help: "one more load connection", .concurrency(1)),
        KeyBinding([.character("-")], footer: "-", "conns", help: "one fewer load connection", .concurrency(-1)),
        KeyBinding([.character("w")], footer: "w", "workers", help: "one fewer worker (relaunches the app)", .workers(-1)),
        KeyBinding([.character("W")], footer: "W", "workers", help: "one more worker (relaunches the app)", .workers(1)),
        KeyBinding([.up], footer: nil, "select", help: "select the previous worker", .selectWorker(-1)),
        KeyBinding([.down], footer: nil, "select", help: "select the next worker", .selectWorker(1)),
        KeyBinding([.character("r")], footer: "r", "reset", help: "reset through the selected worker only", .resetOne),
        KeyBinding([.character("R")], footer: "R", "reset all", help: "reset through every worker", .resetAll),
        KeyBinding([.character("k")], footer: "k", "kill", help: "kill the selected worker with SIGKILL", .killWorker),
        // Help only: the footer already fills 120 columns in one line and 80 in two.
        KeyBinding([.character("K")], footer: nil, "kill store", help: "kill the store's process (SIGKILL): increments get 503", .killStore),
        KeyBinding([.character("U")], footer: nil, "store up", help: "start the store again (up) after K", .restartStore),
        KeyBinding([.character("A")], footer: nil, "restart app", help: "restart the app: stop and start every worker", .restartApp),
        KeyBinding([.character("c")], footer: "c", "compare", help: "same burst on every strategy, side by side", .compare),
        // Help only, as K, U and A; the verdict box names it once a race is witnessed.
        KeyBinding([.character("v")], footer: nil, "race", help: "view the latest lost update: who read and wrote when", .showRace),
        KeyBinding([.character("p")], footer: "p", "pause", help: "pause or resume the load", .togglePause),
        KeyBinding([.character("?"), .function(1)], footer: "?", "help", help: "this help", .help),
        KeyBinding([.character("q"), .function(10)], footer: "q", "quit", help: "quit and restore the terminal", .quit),
    ]

    /// The binding a key triggers on the main screen.
    public static func binding(for key: Key) -> KeyBinding? {
        table.first { $0.keys.contains(key) }
    }

    /// How the help overlay names the keys of `command` ("v"), for a hint elsewhere on screen.
    public static func keyNames(of command: KeyCommand) -> String? {
        table.first { $0.command == command }?.keyNames
    }

    /// Footer items, in table order: (keys as shown, label).
    public static var footerItems: [(keys: String, label: String)] {
        var items: [(keys: String, label: String)] = []
        for binding in table {
            guard let key = binding.footerKey else { continue }
            if let last = items.last, last.label == binding.footerLabel {
                items[items.count - 1].keys += key
            } else {
                items.append((key, binding.footerLabel))
            }
        }
        return items
    }

    /// Handles one key: overlays first (pickers take arrows, enter and escape;
    /// help, compare and the race close on any key), then the table. Returns what the engine must do.
    public static func dispatch(_ key: Key, model: inout DashboardModel) -> [DashboardAction] {
        if key == .resize { return [] }
        switch model.overlay {
        case .none:
            guard let binding = binding(for: key) else { return [] }
            return binding.command.perform(on: &model).map { [$0] } ?? []
        case .help, .compare, .race:
            model.overlay = .none
            return []
        case .strategyPicker(let cursor):
            let unavailable = model.unavailableStrategies
            return pick(key, cursor: cursor, options: Strategy.allCases, model: &model,
                        reopen: { .strategyPicker(cursor: $0) },
                        isAvailable: { unavailable[$0] == nil },
                        choose: { .chooseStrategy($0) })
        case .modePicker(let cursor):
            let current = model
            return pick(key, cursor: cursor, options: current.pickableModes, model: &model,
                        reopen: { .modePicker(cursor: $0) },
                        isAvailable: { current.unavailableReason(for: $0) == nil },
                        choose: { .chooseMode($0) })
        }
    }

    private static func pick<Option>(
        _ key: Key, cursor: Int, options: [Option], model: inout DashboardModel,
        reopen: (Int) -> Overlay, isAvailable: (Option) -> Bool, choose: (Option) -> DashboardAction
    ) -> [DashboardAction] {
        switch key {
        case .up:
            model.overlay = reopen(max(0, cursor - 1))
        case .down:
            model.overlay = reopen(min(options.count - 1, cursor + 1))
        case .escape, .character("q"), .function(10):
            model.overlay = .none
        case .enter, .space:
            let option = options[min(max(0, cursor), options.count - 1)]
            // An unavailable choice keeps the picker open: its reason is already on screen.
            guard isAvailable(option) else { return [] }
            model.overlay = .none
            return [choose(option)]
        default:
            break
        }
        return []
    }
}
