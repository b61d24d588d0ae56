#ifndef STATELAB_CNCURSES_CRASH_RESTORE_H
#define STATELAB_CNCURSES_CRASH_RESTORE_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <ncursesw/curses.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

// A crash (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT) gives the terminal back
// too. endwin() is not async-signal-safe, so everything the handler needs is
// prepared while it is safe: the termios from before curses changed it, and
// the terminal's own reset strings (tigetstr). The handler only write()s those
// strings and tcsetattr()s that termios, both async-signal-safe, then puts the
// previous action back (Swift's backtracer, or the default) and lets the signal
// happen again under it, so the crash is still reported and the process still
// dies of that signal. Like shim.h, the state lives in function-local statics:
// call these from Terminal.swift only.

#define SL_CRASH_SIGNALS 5
#define SL_CRASH_RESET_CAPACITY 256

struct sl_crash_state {
    volatile sig_atomic_t armed;
    int fd;
    int has_termios;
    struct termios termios;
    char reset[SL_CRASH_RESET_CAPACITY];
    size_t reset_length;
    struct sigaction previous[SL_CRASH_SIGNALS];
};

static inline struct sl_crash_state *sl_crash_state(void) {
    static struct sl_crash_state state;
    return &state;
}

static inline int sl_crash_signal(int which) {
    static const int numbers[SL_CRASH_SIGNALS] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT};
    return numbers[which];
}

static inline void sl_crash_handler(int number, siginfo_t *info, void *context) {
    (void)context;
    int saved_errno = errno;
    struct sl_crash_state *state = sl_crash_state();
    if (state->armed) {
        state->armed = 0;
        size_t done = 0;
        while (done < state->reset_length) {
            ssize_t wrote = write(state->fd, state->reset + done, state->reset_length - done);
            if (wrote <= 0) break;
            done += (size_t)wrote;
        }
        if (state->has_termios) tcsetattr(state->fd, TCSANOW, &state->termios);
    }
    for (int which = 0; which < SL_CRASH_SIGNALS; which++) {
        if (sl_crash_signal(which) == number) sigaction(number, &state->previous[which], NULL);
    }
    // A fault (si_code > 0) happens again when the handler returns, now with its
    // real address for the previous handler. A signal that was sent (abort, kill,
    // raise) or a trap that resumes past its instruction is sent again: it stays
    // pending while this handler runs and is delivered under the previous action
    // as it returns.
    if (info == NULL || info->si_code <= 0 || number == SIGTRAP || number == SIGABRT) raise(number);
    errno = saved_errno;
}

// Before curses touches the terminal: the termios to put back on a crash.
static inline void sl_crash_prepare(int fd) {
    struct sl_crash_state *state = sl_crash_state();
    state->fd = fd;
    state->has_termios = tcgetattr(fd, &state->termios) == 0;
    state->reset_length = 0;
}

static inline void sl_crash_append_capability(const char *name) {
    struct sl_crash_state *state = sl_crash_state();
    const char *value = tigetstr(name);
    if (value == NULL || value == (const char *)-1) return;
    size_t length = strlen(value);
    if (state->reset_length + length > SL_CRASH_RESET_CAPACITY) return;
    memcpy(state->reset + state->reset_length, value, length);
    state->reset_length += length;
}

// Once curses runs (tigetstr needs the terminal set up): saves what endwin would
// send (attributes off, cursor shown, keypad off, out of the alternate screen)
// and installs the handler. Idempotent until sl_crash_disarm.
static inline void sl_crash_arm(void) {
    struct sl_crash_state *state = sl_crash_state();
    if (state->armed) return;
    state->reset_length = 0;
    sl_crash_append_capability("sgr0");
    sl_crash_append_capability("cnorm");
    sl_crash_append_capability("rmkx");
    sl_crash_append_capability("rmcup");
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = sl_crash_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (int which = 0; which < SL_CRASH_SIGNALS; which++) {
        sigaction(sl_crash_signal(which), &action, &state->previous[which]);
    }
    state->armed = 1;
}

// The terminal was restored normally: the previous actions come back.
static inline void sl_crash_disarm(void) {
    struct sl_crash_state *state = sl_crash_state();
    if (!state->armed) return;
    state->armed = 0;
    for (int which = 0; which < SL_CRASH_SIGNALS; which++) {
        sigaction(sl_crash_signal(which), &state->previous[which], NULL);
    }
}
#endif
