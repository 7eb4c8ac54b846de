"""cffi build script for ``limpet.core._native`` (out-of-line, API mode).

Run by setuptools at install time (``cffi_modules`` in setup.py). The compiled module is
all limpet needs at run time: nothing imports cffi's parser or pycparser when limpet runs.
Calls that glibc 2.36 does not wrap, or whose headers clash (<sys/mount.h> against
<linux/mount.h>), are small C wrappers around syscall(2).
"""

from cffi import FFI

CDEF = r"""
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int unshare(int flags);
int setns(int fd, int nstype);
int sethostname(const char *name, size_t len);
int setdomainname(const char *name, size_t len);
int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
          unsigned long arg5);
int personality(unsigned long persona);

int limpet_pivot_root(const char *new_root, const char *put_old);
int limpet_mount_setattr(int dfd, const char *path, unsigned int flags,
                         unsigned long long attr_set, unsigned long long attr_clr,
                         unsigned long long propagation, unsigned long long userns_fd);
int limpet_open_tree(int dfd, const char *path, unsigned int flags);
int limpet_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                      unsigned int flags);
int limpet_capget(int pid, uint32_t data[6]);
int limpet_capset(int pid, const uint32_t data[6]);
int limpet_openat2(int dfd, const char *path, unsigned long long flags,
                   unsigned long long mode, unsigned long long resolve);
int limpet_seccomp_filter(unsigned int flags, const void *filter, unsigned int count);
int limpet_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period);
int limpet_ioprio_set(int which, int who, int ioprio);
int limpet_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);
int limpet_bpf_prog_load_cgroup_device(const void *insns, unsigned int count,
                                       const char *license, char *log, unsigned int log_size);
int limpet_bpf_prog_attach_cgroup_device(int cgroup_fd, int prog_fd);
int limpet_bpf_prog_detach_cgroup_device(int cgroup_fd, int prog_fd);
int limpet_bpf_prog_query_cgroup_device(int cgroup_fd, uint32_t *ids, uint32_t *count);
int limpet_bpf_prog_get_fd_by_id(uint32_t id);
long limpet_keyctl_join_session(const char *name);
long limpet_keyctl_setperm(long id, uint32_t perm);
long limpet_keyctl_describe(long id, char *buffer, unsigned long size);

#define MS_RDONLY ...
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOEXEC ...
#define MS_SYNCHRONOUS ...
#define MS_REMOUNT ...
#define MS_MANDLOCK ...
#define MS_DIRSYNC ...
#define MS_NOSYMFOLLOW ...
#define MS_NOATIME ...
#define MS_NODIRATIME ...
#define MS_BIND ...
#define MS_MOVE ...
#define MS_REC ...
#define MS_SILENT ...
#define MS_UNBINDABLE ...
#define MS_PRIVATE ...
#define MS_SLAVE ...
#define MS_SHARED ...
#define MS_RELATIME ...
#define MS_STRICTATIME ...
#define MS_LAZYTIME ...
#define MNT_DETACH ...

#define CLONE_NEWNS ...
#define CLONE_NEWUTS ...
#define CLONE_NEWIPC ...
#define CLONE_NEWUSER ...
#define CLONE_NEWPID ...
#define CLONE_NEWNET ...
#define CLONE_NEWCGROUP ...
#define CLONE_NEWTIME ...

#define MOUNT_ATTR_RDONLY ...
#define MOUNT_ATTR_NOSUID ...
#define MOUNT_ATTR_NODEV ...
#define MOUNT_ATTR_NOEXEC ...
#define MOUNT_ATTR__ATIME ...
#define MOUNT_ATTR_RELATIME ...
#define MOUNT_ATTR_NOATIME ...
#define MOUNT_ATTR_STRICTATIME ...
#define MOUNT_ATTR_NODIRATIME ...
#define MOUNT_ATTR_IDMAP ...
#define MOUNT_ATTR_NOSYMFOLLOW ...
#define AT_FDCWD ...
#define AT_RECURSIVE ...
#define AT_EMPTY_PATH ...
#define AT_SYMLINK_NOFOLLOW ...
#define OPEN_TREE_CLONE ...
#define OPEN_TREE_CLOEXEC ...
#define MOVE_MOUNT_F_EMPTY_PATH ...
#define MOVE_MOUNT_T_EMPTY_PATH ...

#define RESOLVE_NO_XDEV ...
#define RESOLVE_NO_MAGICLINKS ...
#define RESOLVE_NO_SYMLINKS ...
#define RESOLVE_BENEATH ...
#define RESOLVE_IN_ROOT ...

#define PR_SET_PDEATHSIG ...
#define PR_SET_DUMPABLE ...
#define PR_SET_KEEPCAPS ...
#define PR_SET_NAME ...
#define PR_SET_NO_NEW_PRIVS ...
#define PR_GET_NO_NEW_PRIVS ...
#define PR_SET_CHILD_SUBREAPER ...
#define PR_CAPBSET_READ ...
#define PR_CAPBSET_DROP ...
#define PR_CAP_AMBIENT ...
#define PR_CAP_AMBIENT_RAISE ...
#define PR_CAP_AMBIENT_CLEAR_ALL ...
#define PR_SET_SECUREBITS ...

#define SECCOMP_FILTER_FLAG_TSYNC ...
#define SECCOMP_FILTER_FLAG_LOG ...
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW ...
#define SECCOMP_FILTER_FLAG_NEW_LISTENER ...
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH ...
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...

#define SCHED_OTHER ...
#define SCHED_FIFO ...
#define SCHED_RR ...
#define SCHED_BATCH ...
#define SCHED_IDLE ...
#define SCHED_DEADLINE ...
#define SCHED_FLAG_RESET_ON_FORK ...
#define SCHED_FLAG_RECLAIM ...
#define SCHED_FLAG_DL_OVERRUN ...
#define SCHED_FLAG_KEEP_POLICY ...
#define SCHED_FLAG_KEEP_PARAMS ...
#define SCHED_FLAG_UTIL_CLAMP_MIN ...
#define SCHED_FLAG_UTIL_CLAMP_MAX ...

#define IOPRIO_CLASS_RT ...
#define IOPRIO_CLASS_BE ...
#define IOPRIO_CLASS_IDLE ...
#define IOPRIO_CLASS_SHIFT ...
#define IOPRIO_WHO_PROCESS ...

#define MPOL_F_STATIC_NODES ...
#define MPOL_F_RELATIVE_NODES ...
#define MPOL_F_NUMA_BALANCING ...

#define RLIMIT_AS ...
#define RLIMIT_CORE ...
#define RLIMIT_CPU ...
#define RLIMIT_DATA ...
#define RLIMIT_FSIZE ...
#define RLIMIT_LOCKS ...
#define RLIMIT_MEMLOCK ...
#define RLIMIT_MSGQUEUE ...
#define RLIMIT_NICE ...
#define RLIMIT_NOFILE ...
#define RLIMIT_NPROC ...
#define RLIMIT_RSS ...
#define RLIMIT_RTPRIO ...
#define RLIMIT_RTTIME ...
#define RLIMIT_SIGPENDING ...
#define RLIMIT_STACK ...

static const int PER_LINUX;
static const int PER_LINUX32;
"""

SOURCE = r"""
#include <sched.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <linux/ioprio.h>
#include <linux/mempolicy.h>
#include <linux/keyctl.h>

/* <sys/mount.h> clashes with <linux/mount.h> on glibc 2.36: declare what we use. */
extern int mount(const char *, const char *, const char *, unsigned long, const void *);
extern int umount2(const char *, int);
#define MNT_DETACH 2
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

long limpet_keyctl_join_session(const char *name) {
    return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
}

long limpet_keyctl_setperm(long id, uint32_t perm) {
    return syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm);
}

long limpet_keyctl_describe(long id, char *buffer, unsigned long size) {
    return syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, buffer, size);
}

int limpet_pivot_root(const char *new_root, const char *put_old) {
    return syscall(SYS_pivot_root, new_root, put_old);
}

int limpet_mount_setattr(int dfd, const char *path, unsigned int flags,
                         unsigned long long attr_set, unsigned long long attr_clr,
                         unsigned long long propagation, unsigned long long userns_fd) {
    struct mount_attr attr = {0};
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    attr.propagation = propagation;
    attr.userns_fd = userns_fd;
    return syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof(attr));
}

int limpet_open_tree(int dfd, const char *path, unsigned int flags) {
    return syscall(SYS_open_tree, dfd, path, flags);
}

int limpet_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                      unsigned int flags) {
    return syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

int limpet_capget(int pid, uint32_t data[6]) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct d[2];
    int rc = syscall(SYS_capget, &hdr, d);
    if (rc == 0) {
        data[0] = d[0].effective; data[1] = d[1].effective;
        data[2] = d[0].permitted; data[3] = d[1].permitted;
        data[4] = d[0].inheritable; data[5] = d[1].inheritable;
    }
    return rc;
}

int limpet_capset(int pid, const uint32_t data[6]) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct d[2];
    d[0].effective = data[0]; d[1].effective = data[1];
    d[0].permitted = data[2]; d[1].permitted = data[3];
    d[0].inheritable = data[4]; d[1].inheritable = data[5];
    return syscall(SYS_capset, &hdr, d);
}

int limpet_openat2(int dfd, const char *path, unsigned long long flags,
                   unsigned long long mode, unsigned long long resolve) {
    struct open_how how = {0};
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return syscall(SYS_openat2, dfd, path, &how, sizeof(how));
}

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* seccomp(SECCOMP_SET_MODE_FILTER): FILTER is COUNT struct sock_filter (8 bytes each), as
   libseccomp's seccomp_export_bpf writes them. With SECCOMP_FILTER_FLAG_NEW_LISTENER the
   result is the notification fd. FILTER NULL probes FLAGS: EFAULT if the kernel knows them. */
int limpet_seccomp_filter(unsigned int flags, const void *filter, unsigned int count) {
    struct sock_fprog prog;
    prog.len = (unsigned short)count;
    prog.filter = (struct sock_filter *)filter;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, filter ? &prog : NULL);
}

/* sched_setattr(2): glibc 2.36 has no wrapper; struct sched_attr (SCHED_ATTR_SIZE_VER1, with
   the utilization clamps) is declared here, as the man page does. */
struct limpet_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

int limpet_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period) {
    struct limpet_sched_attr attr = {0};
    attr.size = sizeof(attr);
    attr.sched_policy = policy;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_priority = priority;
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    attr.sched_util_max = 1024;   /* SCHED_CAPACITY_SCALE: no clamp unless the flags ask */
    return syscall(SYS_sched_setattr, pid, &attr, 0);
}

int limpet_ioprio_set(int which, int who, int ioprio) {
    return syscall(SYS_ioprio_set, which, who, ioprio);
}

int limpet_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode) {
    return syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}

/* bpf(2) for the cgroup v2 device filter (plugins/cgroups/bpf_devices.py). */
#include <string.h>
#include <linux/bpf.h>

int limpet_bpf_prog_load_cgroup_device(const void *insns, unsigned int count,
                                       const char *license, char *log, unsigned int log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = count;
    attr.license = (uint64_t)(uintptr_t)license;
    if (log && log_size) {
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

int limpet_bpf_prog_attach_cgroup_device(int cgroup_fd, int prog_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
}

int limpet_bpf_prog_detach_cgroup_device(int cgroup_fd, int prog_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    return syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof(attr));
}

int limpet_bpf_prog_query_cgroup_device(int cgroup_fd, uint32_t *ids, uint32_t *count) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *count;
    int rc = syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
    *count = attr.query.prog_cnt;
    return rc;
}

int limpet_bpf_prog_get_fd_by_id(uint32_t id) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    return syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &attr, sizeof(attr));
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("limpet.core._native", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
