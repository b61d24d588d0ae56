#define _GNU_SOURCE
#include "CSupport.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

pid_t sl_spawn(const char *path, char *const argv[], char *const envp[],
               const int *fd_from, const int *fd_to, int fd_count,
               int new_group, int death_signal, long uid, long gid, const char *cwd,
               int net_ns_fd, int mount_ns_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;
    // Child: only async-signal-safe calls until execve.
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    // Into a host's namespaces first (the child is single-threaded, as
    // setns(CLONE_NEWNS) needs; it needs root, so before any change of user).
    if (net_ns_fd >= 0 && setns(net_ns_fd, CLONE_NEWNET) != 0) _exit(124);
    if (mount_ns_fd >= 0) {
        // Joining a mount namespace moves the working directory to its root:
        // keep the parent's (the same directory, bound or not in the host's view).
        int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (setns(mount_ns_fd, CLONE_NEWNS) != 0) _exit(124);
        if (here >= 0) {
            if (fchdir(here) != 0) _exit(124);
            close(here);
        }
    }
    // Ignored signals stay ignored across exec (statelab ignores SIGINT/SIGTERM
    // to handle them itself, NIO ignores SIGPIPE): give the child the defaults.
    struct sigaction dfl;
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags = 0;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < 32; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    }
    // Drop to another user first: a change of credentials clears the death signal.
    if (uid >= 0) {
        gid_t group = (gid_t)gid;
        if (setgroups(1, &group) != 0 || setgid(group) != 0 || setuid((uid_t)uid) != 0) _exit(125);
    }
    if (prctl(PR_SET_PDEATHSIG, death_signal > 0 ? death_signal : SIGKILL) != 0) _exit(126);
    if (getppid() != parent) _exit(126);
    if (new_group) setpgid(0, 0);
    if (cwd != NULL && chdir(cwd) != 0) _exit(125);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) { dup2(devnull, 0); if (devnull != 0) close(devnull); }
    // Nothing else crosses exec, whatever its flags: NIO accepts and opens sockets
    // without SOCK_CLOEXEC, and a child holding a connection's socket keeps the
    // connection open after its owner closes it (no FIN, no reset).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        struct rlimit limit;
        int max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (1U << 20))
            max = (int)limit.rlim_cur;
        for (int fd = 3; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (int i = 0; i < fd_count; i++) {
        if (fd_from[i] == fd_to[i]) {
            int flags = fcntl(fd_from[i], F_GETFD);
            if (flags >= 0) fcntl(fd_from[i], F_SETFD, flags & ~FD_CLOEXEC);
        } else {
            dup2(fd_from[i], fd_to[i]); // dup2 clears FD_CLOEXEC on the new fd
        }
    }
    execve(path, argv, envp);
    _exit(127);
}

int sl_die_with_parent(pid_t expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -1;
    if (getppid() != expected_parent) return -1;
    return 0;
}

static volatile sig_atomic_t guard_caught = 0;

static void guard_on_signal(int sig) {
    if (guard_caught == 0) guard_caught = sig;
}

int sl_guard_prepare(pid_t expected_parent) {
    struct sigaction action;
    action.sa_handler = guard_on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
    }
    // Installed before the death signal is asked for, so a parent dying in
    // between is caught as a SIGTERM, not missed.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return -1;
    if (getppid() != expected_parent) return -1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return -1;
    return 0;
}

int sl_guard_caught_signal(void) {
    return guard_caught;
}

int sl_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

size_t sl_robust_mutex_size(void) {
    size_t s = sizeof(pthread_mutex_t);
    return (s + 63) & ~(size_t)63;
}

int sl_robust_mutex_init(void *p) {
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc) return rc;
    if ((rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED))) return rc;
    if ((rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST))) return rc;
    rc = pthread_mutex_init((pthread_mutex_t *)p, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc;
}

int sl_robust_mutex_lock(void *p) {
    int rc = pthread_mutex_lock((pthread_mutex_t *)p);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent((pthread_mutex_t *)p);
        return 1;
    }
    return rc == 0 ? 0 : (rc == 1 ? EPERM : rc);
}

int sl_robust_mutex_unlock(void *p) {
    return pthread_mutex_unlock((pthread_mutex_t *)p);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int sl_pidfd_open(pid_t pid) {
    /* pidfd descriptors are close-on-exec from the start. */
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

long long sl_tcp_socket_inode(int family, const uint8_t *src, uint16_t sport,
                              const uint8_t *dst, uint16_t dport) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;  /* no NLM_F_DUMP: one exact socket */
    message.request.sdiag_family = (uint8_t)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = ~0u;
    message.request.id.idiag_sport = htons(sport);
    message.request.id.idiag_dport = htons(dport);
    size_t length = family == AF_INET6 ? 16 : 4;
    memcpy(message.request.id.idiag_src, src, length);
    memcpy(message.request.id.idiag_dst, dst, length);
    message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    long long result = -ENOENT;
    char buffer[8192] __attribute__((aligned(8)));
    ssize_t received;
    do { received = recv(fd, buffer, sizeof buffer, 0); } while (received < 0 && errno == EINTR);
    if (received < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    for (struct nlmsghdr *reply = (struct nlmsghdr *)buffer; NLMSG_OK(reply, (size_t)received);
         reply = NLMSG_NEXT(reply, received)) {
        if (reply->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *error = NLMSG_DATA(reply);
            result = error->error < 0 ? error->error : -ENOENT;
            break;
        }
        if (reply->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            struct inet_diag_msg *socket_info = NLMSG_DATA(reply);
            result = (long long)socket_info->idiag_inode;
            break;
        }
        if (reply->nlmsg_type == NLMSG_DONE) break;
    }
    close(fd);
    return result;
}

// MARK: The load generator's event loop

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

_Static_assert(SL_READABLE == EPOLLIN && SL_WRITABLE == EPOLLOUT && SL_ERROR == EPOLLERR && SL_HANGUP == EPOLLHUP,
               "the readiness bits are epoll's");

static int loop_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = { .events = events, .data = { .u64 = token } };
    return epoll_ctl(epfd, op, fd, &event) == 0 ? 0 : -errno;
}

int sl_loop_create(int *wake_fd, int *timer_fd) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return -errno;
    int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) { int e = errno; close(epfd); return -e; }
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (timer < 0) { int e = errno; close(wake); close(epfd); return -e; }
    int r = loop_ctl(epfd, EPOLL_CTL_ADD, wake, EPOLLIN, 0);
    if (r == 0) r = loop_ctl(epfd, EPOLL_CTL_ADD, timer, EPOLLIN, 1);
    if (r != 0) { close(timer); close(wake); close(epfd); return r; }
    *wake_fd = wake;
    *timer_fd = timer;
    return epfd;
}

int sl_loop_add(int epfd, int fd, uint32_t events, uint64_t token) { return loop_ctl(epfd, EPOLL_CTL_ADD, fd, events, token); }
int sl_loop_modify(int epfd, int fd, uint32_t events, uint64_t token) { return loop_ctl(epfd, EPOLL_CTL_MOD, fd, events, token); }
int sl_loop_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno; }

int sl_loop_wait(int epfd, uint64_t *tokens, uint32_t *events, int max) {
    struct epoll_event ready[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, ready, max, -1);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return n;
}

int sl_loop_arm(int timer_fd, uint64_t deadline) {
    struct itimerspec spec = { 0 };
    spec.it_value.tv_sec = (time_t)(deadline / 1000000000u);
    spec.it_value.tv_nsec = (long)(deadline % 1000000000u);
    // it_value 0 disarms; a deadline of 0 means that, and 1 ns is long past anyway.
    return timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) == 0 ? 0 : -errno;
}

void sl_loop_wake(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do { r = write(fd, &one, sizeof one); } while (r < 0 && errno == EINTR);
}

void sl_loop_drain(int fd) {
    uint64_t value;
    ssize_t r;
    do { r = read(fd, &value, sizeof value); } while (r < 0 && errno == EINTR);
}

int sl_tcp_connect(const void *address, uint32_t length, int *pending) {
    const struct sockaddr *sa = address;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) { int e = errno; close(fd); return -e; }
    int r;
    do { r = connect(fd, sa, (socklen_t)length); } while (r < 0 && errno == EINTR);
    if (r == 0) { *pending = 0; return fd; }
    if (errno == EINPROGRESS) { *pending = 1; return fd; }
    int e = errno;
    close(fd);
    return -e;
}

int sl_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

long sl_read(int fd, void *buffer, unsigned long count) {
    ssize_t r;
    do { r = read(fd, buffer, count); } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (long)r;
}

long sl_write(int fd, const void *buffer, unsigned long count) {
    ssize_t r;
    do { r = send(fd, buffer, count, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (long)r;
}
