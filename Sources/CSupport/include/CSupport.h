#ifndef STATELAB_CSUPPORT_H
#define STATELAB_CSUPPORT_H
#include <sys/types.h>
#include <stdint.h>

/// Forks and execs `path`. In the child, before exec: resets every signal to its
/// default action and unblocks all, asks the kernel for SIGKILL
/// when the forking thread dies (PR_SET_PDEATHSIG), exits at once if the parent is
/// already gone, moves `fd_from[i]` to `fd_to[i]` (kept across exec), puts the child
/// in a process group of its own when `new_group` is set, and redirects stdin to
/// /dev/null. No other descriptor above 2 is kept across exec, even one opened
/// without close-on-exec. `death_signal` replaces SIGKILL as the parent-death
/// signal when > 0 (PostgreSQL shuts down cleanly on SIGINT). With `uid` >= 0 the
/// child first becomes that user and group (supplementary groups: just `gid`),
/// then asks for the death signal, since a change of credentials clears it; it
/// exits with 125 when it cannot switch or cannot enter `cwd` (when not NULL).
/// With `net_ns_fd` / `mount_ns_fd` >= 0 (open /proc/PID/ns/net and ns/mnt
/// files) the child first joins that network and mount namespace: a process
/// of one of statelab's namespaced hosts; it exits with 124 when it cannot.
/// Returns the child's pid, or -errno.
pid_t sl_spawn(const char *path, char *const argv[], char *const envp[],
               const int *fd_from, const int *fd_to, int fd_count,
               int new_group, int death_signal, long uid, long gid, const char *cwd,
               int net_ns_fd, int mount_ns_fd);

/// Asks for SIGKILL when the parent dies; returns 0, or -1 when the parent is already gone.
int sl_die_with_parent(pid_t expected_parent);

/// For a guard process: catches SIGTERM, SIGINT and SIGHUP into a flag (see
/// sl_guard_caught_signal), asks for SIGTERM (catchable, unlike sl_spawn's
/// SIGKILL) when the parent dies, and becomes a child subreaper so orphaned
/// descendants are reparented to it. Returns 0, or -1 when the parent is
/// already not `expected_parent`.
int sl_guard_prepare(pid_t expected_parent);

/// The first signal sl_guard_prepare caught, or 0.
int sl_guard_caught_signal(void);

/// Renames `from` to `to` atomically, failing with EEXIST instead of replacing
/// an existing `to` (renameat2 with RENAME_NOREPLACE). Returns 0 or -1 with errno set.
int sl_rename_noreplace(const char *from, const char *to);

/// Size of the shared mutex area (pthread_mutex_t rounded up to 64 bytes).
size_t sl_robust_mutex_size(void);
/// Initialises a process-shared robust mutex at `p`; returns 0 or an errno.
int sl_robust_mutex_init(void *p);
/// Locks; returns 0, or 1 when the previous owner died and the mutex was made
/// consistent again (EOWNERDEAD recovered), or an errno value > 1 on failure.
int sl_robust_mutex_lock(void *p);
int sl_robust_mutex_unlock(void *p);

/// A descriptor that turns readable when process `pid` exits (pidfd_open,
/// close-on-exec); -1 with errno set (ESRCH: it is gone already).
int sl_pidfd_open(pid_t pid);

/// The inode of the TCP socket with exactly this address quadruple (local
/// `src`:`sport`, remote `dst`:`dport`, ports in host order; `family` AF_INET
/// with 4-byte addresses or AF_INET6 with 16), asked of the kernel through a
/// NETLINK_SOCK_DIAG exact lookup (what `ss` uses), so its cost does not grow
/// with the number of sockets on the machine as a read of /proc/net/tcp does.
/// Returns the inode (> 0); 0 when the socket exists but no process holds it
/// yet (still in the accept queue) or any more; -ENOENT when there is no such
/// socket in this network namespace; another -errno on failure.
long long sl_tcp_socket_inode(int family, const uint8_t *src, uint16_t sport,
                              const uint8_t *dst, uint16_t dport);

// MARK: The load generator's event loop (Sources/StateLab/Load/LoadLoop.swift)

/// Readiness bits, as epoll has them.
enum {
    SL_READABLE = 0x001,   /* EPOLLIN */
    SL_WRITABLE = 0x004,   /* EPOLLOUT */
    SL_ERROR = 0x008,      /* EPOLLERR */
    SL_HANGUP = 0x010,     /* EPOLLHUP */
};

/// An epoll instance with an eventfd (token 0, for wake-ups from other threads)
/// and a CLOCK_MONOTONIC timerfd (token 1) registered, all close-on-exec and
/// non-blocking. Returns the epoll descriptor and sets the other two, or -errno.
int sl_loop_create(int *wake_fd, int *timer_fd);
/// epoll_ctl ADD / MOD (level-triggered) and DEL; 0 or -errno.
int sl_loop_add(int epfd, int fd, uint32_t events, uint64_t token);
int sl_loop_modify(int epfd, int fd, uint32_t events, uint64_t token);
int sl_loop_remove(int epfd, int fd);
/// Waits (no timeout: timers come through the timerfd) and fills up to `max`
/// tokens and their readiness bits; returns how many, 0 after a signal, or -errno.
int sl_loop_wait(int epfd, uint64_t *tokens, uint32_t *events, int max);
/// Arms the timerfd for `deadline` (CLOCK_MONOTONIC nanoseconds, absolute); 0 disarms.
int sl_loop_arm(int timer_fd, uint64_t deadline);
/// Adds one to an eventfd / empties an eventfd or timerfd (never blocks).
void sl_loop_wake(int fd);
void sl_loop_drain(int fd);

/// A non-blocking, close-on-exec TCP socket with TCP_NODELAY, connecting to
/// `address`. Returns the descriptor (>= 0) and sets `*pending` to 1 while the
/// connect is under way (wait until writable, then sl_socket_error), or -errno.
int sl_tcp_connect(const void *address, uint32_t length, int *pending);
/// The socket's pending error (SO_ERROR): 0 once a connect succeeded.
int sl_socket_error(int fd);
/// read(2) and write(2) that give -errno instead of -1 (EINTR retried).
long sl_read(int fd, void *buffer, unsigned long count);
long sl_write(int fd, const void *buffer, unsigned long count);

#endif
