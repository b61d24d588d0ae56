#ifndef STATELAB_CNCURSES_SHIM_H
#define STATELAB_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/curses.h>

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
#endif
