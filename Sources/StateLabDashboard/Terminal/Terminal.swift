import CNCurses
import Foundation

/// The only code that talks to curses: set-up, drawing a `ScreenBuffer`,
/// reading keys, and putting the terminal back on every way out, a crash
/// included (crash_restore.h).
public final class Terminal {
    public enum Failure: Error, CustomStringConvertible {
        case notATerminal
        case cannotStart(String)

        public var description: String {
            switch self {
            case .notATerminal: return "the dashboard needs a terminal on stdin and stdout"
            case .cannotStart(let why): return "cannot start the terminal: \(why)"
            }
        }
    }

    public let useColor: Bool
    private var screen: OpaquePointer?
    private var active = false
    /// What is on the terminal now, so a frame only rewrites the rows that changed.
    private var shown: ScreenBuffer?
    private var colorPairs: [ColorRole: Int32] = [:]

    /// Takes over the terminal. `useColor` false (or a terminal without colours) draws in monochrome.
    public init(useColor: Bool) throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else { throw Failure.notATerminal }
        setlocale(LC_ALL, "")
        // The terminal's mode before curses changes it, for the crash handler to put back.
        sl_crash_prepare(STDOUT_FILENO)
        // newterm rather than initscr: initscr exits the process on failure, newterm returns nil.
        guard let output = fdopen(dup(STDOUT_FILENO), "w"), let input = fdopen(dup(STDIN_FILENO), "r") else {
            throw Failure.cannotStart("cannot open the terminal streams")
        }
        guard let screen = newterm(nil, output, input) else {
            throw Failure.cannotStart("unknown terminal type \(ProcessInfo.processInfo.environment["TERM"] ?? "(unset)")")
        }
        self.screen = screen
        active = true
        sl_catch_signals()
        cbreak()
        noecho()
        nonl()
        keypad(sl_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
        if useColor, has_colors() {
            start_color()
            use_default_colors()
            let colors: [(ColorRole, Int32)] = [(.good, Int32(COLOR_GREEN)), (.bad, Int32(COLOR_RED)), (.warn, Int32(COLOR_YELLOW)),
                                               (.accent, Int32(COLOR_CYAN)), (.muted, Int32(COLOR_BLUE))]
            for (pair, (role, color)) in colors.enumerated() {
                init_pair(Int16(pair + 1), Int16(color), -1)
                colorPairs[role] = Int32(pair + 1)
            }
            self.useColor = true
        } else {
            self.useColor = false
        }
        // Last, once the terminal is fully in curses mode: a crash from here on gives it back.
        sl_crash_arm()
    }

    deinit { restore() }

    /// The terminal's size now (curses updates it on resize).
    public var size: (width: Int, height: Int) {
        (Int(getmaxx(sl_stdscr())), Int(getmaxy(sl_stdscr())))
    }

    /// SIGINT or SIGTERM arrived (the loop stops and restores the terminal).
    public var caughtSignal: Int32? {
        let number = sl_caught_signal()
        return number == 0 ? nil : number
    }

    /// Copies the buffer to the screen, rewriting only rows that changed.
    public func draw(_ buffer: ScreenBuffer) {
        guard active else { return }
        if shown?.width != buffer.width || shown?.height != buffer.height {
            erase()
            shown = nil
        }
        for y in 0..<buffer.height where shown?.row(y) != buffer.row(y) {
            drawRow(y, of: buffer)
        }
        shown = buffer
        refresh()
    }

    /// Forgets what is on screen so the next frame redraws everything (after a resize).
    public func invalidate() {
        shown = nil
        if active { clear() }
    }

    /// Keys pressed so far: waits up to `milliseconds` for the first, then takes what is queued.
    public func readKeys(waitingUpTo milliseconds: Int) -> [Key] {
        guard active else { return [] }
        var keys: [Key] = []
        wtimeout(sl_stdscr(), Int32(max(0, milliseconds)))
        while keys.count < 64 {
            let code = wgetch(sl_stdscr())
            if code == sl_err() { break }
            if let key = Self.decode(code) { keys.append(key) }
            wtimeout(sl_stdscr(), 0)
        }
        return keys
    }

    /// Gives the terminal back as it was. Safe to call any number of times.
    public func restore() {
        guard active else { return }
        active = false
        sl_crash_disarm()
        curs_set(1)
        endwin()
        if let screen { delscreen(screen) }
        screen = nil
        sl_release_signals()
    }

    private func drawRow(_ y: Int, of buffer: ScreenBuffer) {
        let cells = buffer.row(y)
        var start = cells.startIndex
        while start < cells.endIndex {
            let style = cells[start].style
            var end = start
            while end < cells.endIndex, cells[end].style == style { end += 1 }
            var wide: [wchar_t] = cells[start..<end].flatMap { cell in
                cell.character.unicodeScalars.prefix(1).map { wchar_t(bitPattern: $0.value) }
            }
            wide.append(0)
            // Writing the bottom-right cell reports an error (the cursor cannot advance); the cell is drawn anyway.
            _ = sl_put_wide(Int32(y), Int32(start - cells.startIndex), wide, Int32(wide.count - 1), attributes(for: style))
            start = end
        }
    }

    private func attributes(for style: CellStyle) -> Int32 {
        var attributes: Int32 = 0
        if style.bold { attributes |= sl_attr_bold() }
        if style.dim { attributes |= sl_attr_dim() }
        if style.reverse { attributes |= sl_attr_reverse() }
        if useColor {
            if let pair = colorPairs[style.role] { attributes |= sl_color_pair(pair) }
        } else {
            // Monochrome: what matters most still stands out.
            switch style.role {
            case .bad, .warn: attributes |= sl_attr_bold()
            case .muted: attributes |= sl_attr_dim()
            case .normal, .good, .accent: break
            }
        }
        return attributes
    }

    static func decode(_ code: Int32) -> Key? {
        switch code {
        case 27: return .escape
        case 10, 13, sl_key_enter(): return .enter
        case 8, 127, sl_key_backspace(): return .backspace
        case sl_key_up(): return .up
        case sl_key_down(): return .down
        case sl_key_left(): return .left
        case sl_key_right(): return .right
        case sl_key_resize(): return .resize
        case sl_key_f(1)...sl_key_f(12): return .function(Int(code - sl_key_f(0)))
        case 32...126: return .character(Character(UnicodeScalar(UInt8(code))))
        default: return nil
        }
    }
}
