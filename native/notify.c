/*
 * sd_notify(3) without libsystemd: one datagram to the AF_UNIX socket systemd names in
 * NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Node has no Unix datagram
 * sockets, hence this.
 */
#include "core.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* notify(socketPath, message): 0, or -errno. */
static napi_value js_notify(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
  char msg[4096];
  size_t pl = 0, ml = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &pl) != napi_ok || pl == 0 || pl >= sizeof path - 1) return num(env, -EINVAL);
  if (napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &ml) != napi_ok || ml >= sizeof msg - 1) return num(env, -EINVAL);
  struct sockaddr_un to;
  memset(&to, 0, sizeof to);
  to.sun_family = AF_UNIX;
  memcpy(to.sun_path, path, pl);
  if (path[0] == '@') to.sun_path[0] = '\0'; /* abstract namespace */
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pl + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  ssize_t n = sendto(fd, msg, ml, MSG_NOSIGNAL, (struct sockaddr *)&to, len);
  int e = n < 0 ? errno : 0;
  close(fd);
  return num(env, -e);
}

void notify_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {{"notify", js_notify}};
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
