#ifndef FLAMED_CAPS_H
#define FLAMED_CAPS_H

/* Capability numbers from <linux/capability.h>. Old headers lack the newer ones
 * (CAP_PERFMON and CAP_BPF arrived in Linux 5.8), and Swift cannot see these macros
 * without importing <sys/capability.h>, so the values flamed uses are spelled out here. */
#define FLAMED_CAP_DAC_READ_SEARCH 2
#define FLAMED_CAP_SYS_PTRACE 19
#define FLAMED_CAP_SYS_ADMIN 21
#define FLAMED_CAP_SYSLOG 34
#define FLAMED_CAP_PERFMON 38

/// Whether `capability` (a CAP_* number) is in this process's effective set:
/// 1 if it is, 0 if not, -1 on error with errno set.
///
/// Why it exists: libcap's `cap_get_proc`/`cap_get_flag` work on an opaque `cap_t` that
/// must be freed with `cap_free`, and Swift cannot import <sys/capability.h> cleanly.
int flamed_shim_cap_effective(int capability);

/// Clears every effective, permitted and inheritable capability except the `count`
/// CAP_* numbers in `keep`, which stay as they were. Returns 0, or -1 with errno set.
///
/// Why it exists: building and applying a capability set takes several libcap calls
/// on an opaque `cap_t` (`cap_get_proc`, `cap_clear_flag`, `cap_set_flag`,
/// `cap_set_proc`, `cap_free`) that Swift cannot import cleanly.
int flamed_shim_cap_drop_all_except(const int *keep, int count);

/// Whether this process was started with raised privileges (setuid, setgid or file
/// capabilities): the kernel's AT_SECURE flag. 1 or 0.
///
/// Why it exists: Swift's Glibc module does not export `getauxval` (<sys/auxv.h>).
int flamed_shim_secure_execution(void);

#endif
