/*
 * Dropping root for runtime.user/group: setgroups, setresgid and setresuid (glibc applies
 * the last two to every thread), keeping a chosen set of capabilities across the change
 * (PR_SET_KEEPCAPS, then capset on the calling thread) and raising them as ambient
 * capabilities, so that the processes this thread starts later (workers, nft) have them
 * too. Node has process.setuid but no way to keep a capability.
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include "core.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* dropPrivileges(uid, gid, caps): 0, or -errno; `caps` lists capability numbers to keep. */
static napi_value js_drop_privileges(napi_env env, napi_callback_info info) {
  ARGS(3);
  uid_t uid = (uid_t)arg_num(env, argv[0]);
  gid_t gid = (gid_t)arg_num(env, argv[1]);
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[2], &n) != napi_ok || n > 64) return num(env, -EINVAL);
  uint64_t keep = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    double c = arg_num(env, v);
    if (c < 0 || c > 63) return num(env, -EINVAL);
    keep |= 1ull << (unsigned)c;
  }
  /* already that user (a worker started after the primary dropped): only the capabilities change */
  if (getuid() != uid || getgid() != gid) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return num(env, -errno);
    if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
      int e = errno;
      prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
      return num(env, -e);
    }
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return num(env, -errno);
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  for (int k = 0; k < 2; k++) {
    uint32_t bits = (uint32_t)(keep >> (32 * k));
    d[k].effective = bits;
    d[k].permitted = bits;
    d[k].inheritable = bits;
  }
  if (syscall(SYS_capset, &h, d) < 0) return num(env, -errno);
  for (unsigned c = 0; c < 64; c++) {
    if ((keep >> c) & 1u) {
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) return num(env, -errno);
    }
  }
  return num(env, 0);
}

void privileges_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {{"dropPrivileges", js_drop_privileges}};
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
