#define _GNU_SOURCE
#include "flamed_perf.h"

#include <errno.h>
#include <pthread.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ring control page fields flamed touches sit where the uapi header puts them. */
_Static_assert(offsetof(struct perf_event_mmap_page, data_head) == 1024, "data_head offset");
_Static_assert(offsetof(struct perf_event_mmap_page, data_tail) == 1032, "data_tail offset");
_Static_assert(offsetof(struct perf_event_mmap_page, data_offset) == 1040, "data_offset offset");
_Static_assert(offsetof(struct perf_event_mmap_page, data_size) == 1048, "data_size offset");

int flamed_shim_perf_event_open(const struct flamed_shim_event_config *c, pid_t pid, int cpu) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = c->type;
    attr.config = c->config;
    attr.sample_period = c->period_or_frequency; /* a union with sample_freq */
    attr.freq = c->use_frequency != 0;
    attr.sample_type = c->sample_type;
    attr.disabled = c->disabled != 0;
    attr.inherit = c->inherit != 0;
    attr.enable_on_exec = c->enable_on_exec != 0;
    attr.exclude_kernel = c->exclude_kernel != 0;
    attr.exclude_user = c->exclude_user != 0;
    attr.exclude_callchain_kernel = c->exclude_callchain_kernel != 0;
    attr.exclude_callchain_user = c->exclude_callchain_user != 0;
    if (c->track_tasks) {
        attr.mmap = 1;
        attr.mmap2 = 1;
        attr.comm = 1;
        attr.comm_exec = 1;
        attr.task = 1;
        attr.ksymbol = 1;
    }
    attr.sample_id_all = c->sample_id_all != 0;
    if (c->use_clockid) {
        attr.use_clockid = 1;
        attr.clockid = c->clockid;
    }
    if (c->wakeup_watermark > 0) {
        attr.watermark = 1;
        attr.wakeup_watermark = c->wakeup_watermark;
    } else {
        attr.wakeup_events = 1;
    }
    attr.sample_max_stack = c->sample_max_stack;
    return (int)syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int flamed_shim_perf_enable(int fd) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0); }
int flamed_shim_perf_disable(int fd) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0); }
int flamed_shim_perf_set_output(int fd, int target_fd) { return ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target_fd); }

uint64_t flamed_shim_ring_load_head(const void *page) {
    return __atomic_load_n(&((const struct perf_event_mmap_page *)page)->data_head, __ATOMIC_ACQUIRE);
}

void flamed_shim_ring_store_tail(void *page, uint64_t tail) {
    __atomic_store_n(&((struct perf_event_mmap_page *)page)->data_tail, tail, __ATOMIC_RELEASE);
}

uint64_t flamed_shim_ring_load_tail(const void *page) {
    return __atomic_load_n(&((const struct perf_event_mmap_page *)page)->data_tail, __ATOMIC_ACQUIRE);
}

void flamed_shim_ring_store_head(void *page, uint64_t head) {
    __atomic_store_n(&((struct perf_event_mmap_page *)page)->data_head, head, __ATOMIC_RELEASE);
}

uint64_t flamed_shim_ring_data_offset(const void *page) {
    return ((const struct perf_event_mmap_page *)page)->data_offset;
}

uint64_t flamed_shim_ring_data_size(const void *page) {
    return ((const struct perf_event_mmap_page *)page)->data_size;
}

void flamed_shim_ring_set_layout(void *page, uint64_t offset, uint64_t size) {
    ((struct perf_event_mmap_page *)page)->data_offset = offset;
    ((struct perf_event_mmap_page *)page)->data_size = size;
}

pid_t flamed_shim_spawn_held(const char *path, char *const argv[], char *const envp[], int release_fd,
                             int error_fd) {
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    /* Child: only async-signal-safe calls from here on (so no Swift, and EINTR is retried
     * here rather than through FlamedSystem's funnel). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo != SIGKILL && signo != SIGSTOP) {
            signal(signo, SIG_DFL);
        }
    }
    char go = 0;
    ssize_t got;
    do {
        got = read(release_fd, &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) {
        _exit(127);
    }
    execve(path, argv, envp);
    int failure = errno;
    ssize_t ignored = write(error_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

static int flamed_signal_fd = -1;

static void flamed_signal_to_fd(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    ssize_t ignored = write(flamed_signal_fd, &byte, 1);
    (void)ignored;
    errno = saved;
}

int flamed_shim_signals_to_fd(const int *signals, int count, int fd) {
    flamed_signal_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = flamed_signal_to_fd;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigset_t caught;
    sigemptyset(&caught);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) {
            return -1;
        }
        sigaddset(&caught, signals[i]);
    }
    /* A parent may have started us with these signals blocked; the main thread takes them. */
    return pthread_sigmask(SIG_UNBLOCK, &caught, NULL) == 0 ? 0 : -1;
}
