#ifndef STATELAB_CNCURSES_SHIM_H
#define STATELAB_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/curses.h>
#include <signal.h>
#include <string.h>
#include <wchar.h>

// Swift cannot import curses macros or its non-Sendable globals; these accessors stand in.
static inline WINDOW *sl_stdscr(void) { return stdscr; }
static inline int sl_lines(void) { return LINES; }
static inline int sl_cols(void) { return COLS; }
static inline int sl_colors(void) { return COLORS; }
static inline int sl_attr_bold(void) { return (int)A_BOLD; }
static inline int sl_attr_reverse(void) { return (int)A_REVERSE; }
static inline int sl_attr_dim(void) { return (int)A_DIM; }
static inline int sl_attr_underline(void) { return (int)A_UNDERLINE; }
static inline int sl_color_pair(int n) { return (int)COLOR_PAIR(n); }
static inline int sl_key_resize(void) { return KEY_RESIZE; }
static inline int sl_key_f(int n) { return KEY_F(n); }
static inline int sl_err(void) { return ERR; }
static inline int sl_key_up(void) { return KEY_UP; }
static inline int sl_key_down(void) { return KEY_DOWN; }
static inline int sl_key_left(void) { return KEY_LEFT; }
static inline int sl_key_right(void) { return KEY_RIGHT; }
static inline int sl_key_enter(void) { return KEY_ENTER; }
static inline int sl_key_backspace(void) { return KEY_BACKSPACE; }

// Writes `n` wide characters at (y, x) on stdscr with attributes `attr`.
static inline int sl_put_wide(int y, int x, const wchar_t *text, int n, int attr) {
    attrset(attr);
    return mvaddnwstr(y, x, text, n);
}

// SIGINT / SIGTERM only set a flag: the dashboard loop sees it, restores the
// terminal and stops. A signal handler must be a C function touching only a
// sig_atomic_t. The state lives in function-local statics because Swift emits
// a header's inline functions but not its file-scope statics; call these from
// one Swift file only (Terminal.swift), as each object file gets its own copy.
static inline volatile sig_atomic_t *sl_signal_flag(void) {
    static volatile sig_atomic_t caught = 0;
    return &caught;
}
static inline struct sigaction *sl_saved_action(int which) {
    static struct sigaction saved[2];
    return &saved[which];
}
static inline void sl_on_signal(int number) { *sl_signal_flag() = number; }
static inline void sl_catch_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = sl_on_signal;
    sigemptyset(&action.sa_mask);
    *sl_signal_flag() = 0;
    sigaction(SIGINT, &action, sl_saved_action(0));
    sigaction(SIGTERM, &action, sl_saved_action(1));
}
static inline void sl_release_signals(void) {
    sigaction(SIGINT, sl_saved_action(0), NULL);
    sigaction(SIGTERM, sl_saved_action(1), NULL);
}
static inline int sl_caught_signal(void) { return *sl_signal_flag(); }
#endif
