#include "flamed_caps.h"

#include <errno.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/capability.h>

/* The numbers in flamed_caps.h must agree with the system header wherever it has them. */
_Static_assert(CAP_DAC_READ_SEARCH == FLAMED_CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH");
_Static_assert(CAP_SYS_PTRACE == FLAMED_CAP_SYS_PTRACE, "CAP_SYS_PTRACE");
_Static_assert(CAP_SYS_ADMIN == FLAMED_CAP_SYS_ADMIN, "CAP_SYS_ADMIN");
_Static_assert(CAP_SYSLOG == FLAMED_CAP_SYSLOG, "CAP_SYSLOG");
#ifdef CAP_PERFMON
_Static_assert(CAP_PERFMON == FLAMED_CAP_PERFMON, "CAP_PERFMON");
#endif

int flamed_shim_cap_effective(int capability) {
    cap_t caps = cap_get_proc();
    if (caps == NULL) {
        return -1;
    }
    cap_flag_value_t value = CAP_CLEAR;
    int result = cap_get_flag(caps, (cap_value_t)capability, CAP_EFFECTIVE, &value);
    int saved = errno;
    cap_free(caps);
    if (result != 0) {
        errno = saved;
        return -1;
    }
    return value == CAP_SET ? 1 : 0;
}

int flamed_shim_cap_drop_all_except(const int *keep, int count) {
    static const cap_flag_t flags[] = {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE};
    cap_t current = cap_get_proc();
    if (current == NULL) {
        return -1;
    }
    cap_t wanted = cap_init();
    if (wanted == NULL) {
        int saved = errno;
        cap_free(current);
        errno = saved;
        return -1;
    }
    int result = 0;
    for (int i = 0; i < count && result == 0; i++) {
        cap_value_t value = (cap_value_t)keep[i];
        for (int f = 0; f < 3 && result == 0; f++) {
            cap_flag_value_t held = CAP_CLEAR;
            result = cap_get_flag(current, value, flags[f], &held);
            if (result == 0 && held == CAP_SET) {
                result = cap_set_flag(wanted, flags[f], 1, &value, CAP_SET);
            }
        }
    }
    if (result == 0) {
        result = cap_set_proc(wanted);
    }
    int saved = errno;
    cap_free(wanted);
    cap_free(current);
    errno = saved;
    return result == 0 ? 0 : -1;
}

int flamed_shim_secure_execution(void) {
    return getauxval(AT_SECURE) != 0;
}
