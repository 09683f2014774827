#ifndef FLAMED_PERF_H
#define FLAMED_PERF_H

#include <stdint.h>
#include <sys/types.h>
/* Swift's Glibc module leaves out <sys/epoll.h>; importing it here gives Swift epoll. */
#include <sys/epoll.h>

/// The perf_event_attr fields flamed sets, as plain integers. `struct perf_event_attr` packs
/// its flags into bit-fields, which Swift imports awkwardly and which move between kernel
/// header versions; `flamed_shim_perf_event_open` copies these into the real struct.
struct flamed_shim_event_config {
    uint32_t type;
    uint64_t config;
    /// Sample period, or frequency in Hz when `use_frequency` is set.
    uint64_t period_or_frequency;
    uint64_t sample_type;
    /// Bytes of data that make the ring readable (poll/epoll); 0 wakes on every record.
    uint32_t wakeup_watermark;
    uint16_t sample_max_stack;
    int32_t clockid;
    uint8_t use_frequency;
    uint8_t disabled;
    uint8_t inherit;
    uint8_t enable_on_exec;
    uint8_t exclude_kernel;
    uint8_t exclude_user;
    uint8_t exclude_callchain_kernel;
    uint8_t exclude_callchain_user;
    /// mmap2, comm (with comm_exec), task and ksymbol side-band records.
    uint8_t track_tasks;
    uint8_t sample_id_all;
    uint8_t use_clockid;
};

/// Opens a perf event (close-on-exec, no group). Why it exists: glibc has no perf_event_open
/// wrapper, Swift cannot call the variadic `syscall`, and the attr's bit-fields are set here.
/// Returns the fd, or -1 with errno set.
int flamed_shim_perf_event_open(const struct flamed_shim_event_config *config, pid_t pid, int cpu);

/// PERF_EVENT_IOC_ENABLE / DISABLE. Why: `ioctl` is variadic, which Swift cannot call.
int flamed_shim_perf_enable(int fd);
int flamed_shim_perf_disable(int fd);
/// PERF_EVENT_IOC_SET_OUTPUT: send `fd`'s records to `target_fd`'s ring (same CPU).
int flamed_shim_perf_set_output(int fd, int target_fd);

/// Loads `data_head` from a ring's control page with acquire ordering, so the record bytes
/// before it are visible. Why: the control page is kernel-shared memory that Swift's
/// `Atomic` cannot be placed over.
uint64_t flamed_shim_ring_load_head(const void *control_page);
/// Stores `data_tail` with release ordering: the kernel may overwrite the bytes before it.
void flamed_shim_ring_store_tail(void *control_page, uint64_t tail);
/// The producer side, for synthetic rings in tests (the kernel is the producer otherwise).
uint64_t flamed_shim_ring_load_tail(const void *control_page);
void flamed_shim_ring_store_head(void *control_page, uint64_t head);
/// `data_offset` and `data_size` of the control page (0 on kernels older than 4.1).
uint64_t flamed_shim_ring_data_offset(const void *control_page);
uint64_t flamed_shim_ring_data_size(const void *control_page);
/// Sets `data_offset`/`data_size` of a synthetic ring's control page (tests).
void flamed_shim_ring_set_layout(void *control_page, uint64_t offset, uint64_t size);

/// Forks a child that waits until one byte arrives on `release_fd`, then execs `path`.
/// Why: perf events must be attached to the child before it execs (enable_on_exec), which
/// posix_spawn cannot wait for, and Swift cannot call fork safely. The child restores the
/// default signal mask and actions. If exec fails the child writes its errno (an int) to
/// `error_fd` (close-on-exec) and exits 127; if `release_fd` is closed first it exits 127.
/// Returns the pid, or -1 with errno set.
pid_t flamed_shim_spawn_held(const char *path, char *const argv[], char *const envp[], int release_fd,
                             int error_fd);

/// Installs a handler for each signal in `signals` that writes the signal number as one
/// byte to `fd` (a non-blocking pipe an event loop polls), and unblocks them in the calling
/// thread. Why: a signal handler may only call async-signal-safe functions, which Swift code
/// cannot promise. Returns 0 or -1.
int flamed_shim_signals_to_fd(const int *signals, int count, int fd);

#endif
