/*
 * UDP sockets that answer datagrams in batches, for the DNS server (src/dns/udp.ts):
 * up to UDP_BATCH datagrams come in with one recvmmsg, JavaScript answers the whole
 * batch in one call, and the answers go out with one sendmmsg. Node's dgram costs a
 * recvmsg, a sendmsg and two crossings between C++ and JavaScript (with a Buffer, an
 * rinfo object and a send request) per datagram; this costs two system calls and one
 * crossing per batch.
 *
 * Each socket has its own uv_poll handle on Node's loop. The datagrams land in an arena
 * JavaScript handed over (udpArena): datagram i of the batch at i * UDP_IN_SLOT (a slot
 * holds the largest UDP payload, so nothing is cut), its answer at i * UDP_OUT_SLOT of
 * the answers arena, and record i of `meta` (UDP_META int32s) holds [length, family,
 * port, answer length, address as four big-endian words]. JavaScript sets the answer
 * length (0: no answer) before its callback returns.
 *
 * When the socket cannot take every answer (EAGAIN), the rest is kept and the socket
 * stops reading until they are written, as libuv queues a send that would block.
 * Other send errors drop that one answer (the client's retry covers it), counted.
 */
#define _GNU_SOURCE
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Shared with src/io/addon.ts through the constants object. */
#define UDP_BATCH 64
#define UDP_IN_SLOT 65536
#define UDP_OUT_SLOT 4096
#define UDP_META 8
/* Batches read per wake-up before the loop gets its turn again. */
#define UDP_ROUNDS 8
#define MAX_UDP 64

typedef struct {
  int fd, id;
  uint8_t busy, closing;
  uv_poll_t poll;
  napi_ref cb;
  /* Answers waiting for the socket to take them. */
  uint32_t npend, pend_at;
  struct mmsghdr *pmsgs;
  struct iovec *piov;
  addr_t *paddr;
  char *pdata;
  double sent, send_errors, batches;
} usock_t;

static usock_t *g_udp[MAX_UDP];
static napi_env g_uenv;
static napi_async_context g_uactx;
static char *g_in, *g_out;
static int32_t *g_meta;
static napi_ref g_in_ref, g_out_ref, g_meta_ref;

static struct mmsghdr g_rmsgs[UDP_BATCH], g_smsgs[UDP_BATCH];
static struct iovec g_riov[UDP_BATCH], g_siov[UDP_BATCH];
static addr_t g_raddr[UDP_BATCH];
/* The batch JavaScript is answering (udpPeer reads its addresses). */
static int g_batch_n = 0;
/* Receive headers the last recvmmsg filled (their msg_namelen to reset). */
static int g_used = 0;

static void udp_poll_cb(uv_poll_t *h, int status, int events);

static void set_poll(usock_t *s) {
  int ev = s->npend > 0 ? UV_WRITABLE : UV_READABLE;
  uv_poll_start(&s->poll, ev, udp_poll_cb);
}

/* Writes answers from msgs[0, n) until done or EAGAIN; returns how many were taken or dropped. */
static uint32_t send_some(usock_t *s, struct mmsghdr *msgs, uint32_t n) {
  uint32_t done = 0;
  while (done < n) {
    int r = sendmmsg(s->fd, msgs + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      done += (uint32_t)r;
      s->sent += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;
    /* The first answer left cannot be sent (no route, refused by a filter...): drop it. */
    s->send_errors++;
    done++;
  }
  return done;
}

/* Keeps answers msgs[from, n) for when the socket is writable. */
static void keep_pending(usock_t *s, struct mmsghdr *msgs, uint32_t from, uint32_t n) {
  if (s->pmsgs == NULL) {
    s->pmsgs = calloc(UDP_BATCH, sizeof *s->pmsgs);
    s->piov = calloc(UDP_BATCH, sizeof *s->piov);
    s->paddr = calloc(UDP_BATCH, sizeof *s->paddr);
    s->pdata = malloc((size_t)UDP_BATCH * UDP_OUT_SLOT);
    if (s->pmsgs == NULL || s->piov == NULL || s->paddr == NULL || s->pdata == NULL) {
      free(s->pmsgs), free(s->piov), free(s->paddr), free(s->pdata);
      s->pmsgs = NULL, s->piov = NULL, s->paddr = NULL, s->pdata = NULL;
      s->send_errors += n - from;
      return;
    }
  }
  uint32_t k = 0;
  for (uint32_t i = from; i < n; i++, k++) {
    struct msghdr *m = &msgs[i].msg_hdr;
    size_t len = m->msg_iov[0].iov_len;
    memcpy(s->pdata + (size_t)k * UDP_OUT_SLOT, m->msg_iov[0].iov_base, len);
    memcpy(&s->paddr[k], m->msg_name, m->msg_namelen);
    s->piov[k].iov_base = s->pdata + (size_t)k * UDP_OUT_SLOT;
    s->piov[k].iov_len = len;
    memset(&s->pmsgs[k], 0, sizeof s->pmsgs[k]);
    s->pmsgs[k].msg_hdr.msg_name = &s->paddr[k];
    s->pmsgs[k].msg_hdr.msg_namelen = m->msg_namelen;
    s->pmsgs[k].msg_hdr.msg_iov = &s->piov[k];
    s->pmsgs[k].msg_hdr.msg_iovlen = 1;
  }
  s->npend = k;
  s->pend_at = 0;
}

static void on_closed(uv_handle_t *h) {
  usock_t *s = h->data;
  free(s->pmsgs), free(s->piov), free(s->paddr), free(s->pdata);
  free(s);
}

static void udp_close(int id) {
  usock_t *s = g_udp[id];
  g_udp[id] = NULL;
  napi_delete_reference(g_uenv, s->cb);
  /* Stopped, the handle no longer watches the descriptor: closing it now frees the port at once (a reload binds it again). */
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

/* Calls the socket's JavaScript callback with the batch size; 0, or -1 when it threw. */
static int call_js(usock_t *s, int n) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(g_uenv, &scope) != napi_ok) return -1;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(g_uenv, s->cb, &cb);
  napi_get_global(g_uenv, &recv);
  napi_create_int32(g_uenv, n, &argv[0]);
  g_batch_n = n;
  s->busy = 1;
  napi_status st = napi_make_callback(g_uenv, g_uactx, recv, cb, 1, argv, &result);
  s->busy = 0;
  g_batch_n = 0;
  int rc = 0;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(g_uenv, &err);
    napi_fatal_exception(g_uenv, err);
    rc = -1;
  }
  napi_close_handle_scope(g_uenv, scope);
  return rc;
}

static void fill_meta(int i) {
  int32_t *m = g_meta + (size_t)i * UDP_META;
  const addr_t *a = &g_raddr[i];
  m[0] = (int32_t)g_rmsgs[i].msg_len;
  m[3] = 0;
  if (a->sa.sa_family == AF_INET) {
    m[1] = 4;
    m[2] = ntohs(a->v4.sin_port);
    m[4] = (int32_t)ntohl(a->v4.sin_addr.s_addr);
    m[5] = m[6] = m[7] = 0;
  } else {
    m[1] = 6;
    m[2] = ntohs(a->v6.sin6_port);
    const uint8_t *b = a->v6.sin6_addr.s6_addr;
    for (int w = 0; w < 4; w++) m[4 + w] = (int32_t)(((uint32_t)b[4 * w] << 24) | ((uint32_t)b[4 * w + 1] << 16) | ((uint32_t)b[4 * w + 2] << 8) | b[4 * w + 3]);
  }
}

/* Points the receive headers at the arena (once; recvmmsg changes only their lengths). */
static void init_recv_headers(void) {
  for (int i = 0; i < UDP_BATCH; i++) {
    g_riov[i].iov_base = g_in + (size_t)i * UDP_IN_SLOT;
    g_riov[i].iov_len = UDP_IN_SLOT;
    memset(&g_rmsgs[i].msg_hdr, 0, sizeof g_rmsgs[i].msg_hdr);
    g_rmsgs[i].msg_hdr.msg_name = &g_raddr[i];
    g_rmsgs[i].msg_hdr.msg_namelen = sizeof g_raddr[i];
    g_rmsgs[i].msg_hdr.msg_iov = &g_riov[i];
    g_rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
}

static void read_batches(usock_t *s, int id) {
  for (int round = 0; round < UDP_ROUNDS; round++) {
    for (int i = 0; i < g_used; i++) g_rmsgs[i].msg_hdr.msg_namelen = sizeof g_raddr[i];
    int n = recvmmsg(s->fd, g_rmsgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    g_used = n > 0 ? n : 0;
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return; /* EAGAIN, or an error a later read may not have (ICMP reports on the socket) */
    }
    for (int i = 0; i < n; i++) fill_meta(i);
    s->batches++;
    int threw = call_js(s, n);
    if (g_udp[id] != s || s->closing) {
      if (s->closing && g_udp[id] == s) udp_close(id);
      return;
    }
    if (threw) continue;
    uint32_t k = 0;
    for (int i = 0; i < n; i++) {
      int32_t len = g_meta[(size_t)i * UDP_META + 3];
      if (len <= 0 || len > UDP_OUT_SLOT) continue;
      g_siov[k].iov_base = g_out + (size_t)i * UDP_OUT_SLOT;
      g_siov[k].iov_len = (size_t)len;
      memset(&g_smsgs[k].msg_hdr, 0, sizeof g_smsgs[k].msg_hdr);
      g_smsgs[k].msg_hdr.msg_name = &g_raddr[i];
      g_smsgs[k].msg_hdr.msg_namelen = g_rmsgs[i].msg_hdr.msg_namelen;
      g_smsgs[k].msg_hdr.msg_iov = &g_siov[k];
      g_smsgs[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
    uint32_t done = send_some(s, g_smsgs, k);
    if (done < k) {
      keep_pending(s, g_smsgs, done, k);
      if (s->npend > 0) {
        set_poll(s);
        return;
      }
    }
    if (n < UDP_BATCH) return;
  }
}

static void udp_poll_cb(uv_poll_t *h, int status, int events) {
  usock_t *s = h->data;
  int id = s->id;
  if (g_udp[id] != s || s->closing) return;
  if (status < 0) {
    /* libuv stopped the handle on POLLERR: clear the socket's error, drop what waits, and go on. */
    int e = 0;
    socklen_t el = sizeof e;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el);
    s->send_errors += s->npend - s->pend_at;
    s->npend = s->pend_at = 0;
    set_poll(s);
    return;
  }
  if (s->npend > 0) {
    if (!(events & UV_WRITABLE)) return;
    uint32_t done = send_some(s, s->pmsgs + s->pend_at, s->npend - s->pend_at);
    s->pend_at += done;
    if (s->pend_at < s->npend) return;
    s->npend = s->pend_at = 0;
    set_poll(s);
    return;
  }
  if (events & UV_READABLE) read_batches(s, id);
}

/* udpArena(datagrams: Uint8Array, answers: Uint8Array, meta: Int32Array): 0, or throws when they are too small. */
static napi_value js_udp_arena(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *d[3];
  size_t len[3];
  napi_typedarray_type want[3] = {napi_uint8_array, napi_uint8_array, napi_int32_array};
  size_t need[3] = {(size_t)UDP_BATCH * UDP_IN_SLOT, (size_t)UDP_BATCH * UDP_OUT_SLOT, (size_t)UDP_BATCH * UDP_META};
  for (int i = 0; i < 3; i++) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    bool is = false;
    if (argc < 3 || napi_is_typedarray(env, argv[i], &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, argv[i], &type, &len[i], &d[i], &ab, &off) != napi_ok || type != want[i] || len[i] < need[i]) {
      napi_throw_type_error(env, NULL, "udpArena(datagrams, answers, meta): arrays too small or of the wrong type");
      return NULL;
    }
  }
  if (g_in != NULL) {
    napi_delete_reference(env, g_in_ref);
    napi_delete_reference(env, g_out_ref);
    napi_delete_reference(env, g_meta_ref);
  } else {
    napi_value name;
    napi_create_string_utf8(env, "FulcrumDnsUdp", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, NULL, name, &g_uactx);
  }
  g_uenv = env;
  g_in = d[0];
  g_out = d[1];
  g_meta = d[2];
  init_recv_headers();
  napi_create_reference(env, argv[0], 1, &g_in_ref);
  napi_create_reference(env, argv[1], 1, &g_out_ref);
  napi_create_reference(env, argv[2], 1, &g_meta_ref);
  return num(env, 0);
}

/*
 * udpOpen(host, port, bufferBytes, onBatch): binds a UDP socket (SO_RCVBUF and SO_SNDBUF
 * asked at bufferBytes) and starts reading; its id, or -errno. udpArena comes first.
 */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (g_in == NULL || argc < 4) return num(env, -EINVAL);
  char host[64];
  size_t hl = 0;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl) != napi_ok) return num(env, -EINVAL);
  int port = (int)arg_num(env, argv[1]);
  int bytes = (int)arg_num(env, argv[2]);
  addr_t a;
  memset(&a, 0, sizeof a);
  socklen_t alen;
  if (inet_pton(AF_INET, host, &a.v4.sin_addr) == 1) {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons((uint16_t)port);
    alen = sizeof a.v4;
  } else if (inet_pton(AF_INET6, host, &a.v6.sin6_addr) == 1) {
    a.v6.sin6_family = AF_INET6;
    a.v6.sin6_port = htons((uint16_t)port);
    alen = sizeof a.v6;
  } else {
    return num(env, -EINVAL);
  }
  int id = -1;
  for (int i = 0; i < MAX_UDP; i++)
    if (g_udp[i] == NULL) {
      id = i;
      break;
    }
  if (id < 0) return num(env, -EMFILE);
  int fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  if (bind(fd, &a.sa, alen) < 0) {
    int e = errno;
    close(fd);
    return num(env, -e);
  }
  if (bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  usock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return num(env, -ENOMEM);
  }
  s->fd = fd;
  s->id = id;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    return num(env, -EINVAL);
  }
  s->poll.data = s;
  napi_create_reference(env, argv[3], 1, &s->cb);
  g_udp[id] = s;
  set_poll(s);
  return num(env, id);
}

static usock_t *arg_sock(napi_env env, napi_value v, int *id) {
  double d = arg_num(env, v);
  if (!(d >= 0 && d < MAX_UDP)) return NULL;
  *id = (int)d;
  return g_udp[*id];
}

/* udpLocal(id): [address, port] the socket is bound to, or undefined. */
static napi_value js_udp_local(napi_env env, napi_callback_info info) {
  ARGS(1);
  int id;
  usock_t *s = arg_sock(env, argv[0], &id);
  return s == NULL ? NULL : local_address_of(env, s->fd);
}

/* udpClose(id): stops reading and closes the socket (after the batch being answered, when called from its callback). */
static napi_value js_udp_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int id;
  usock_t *s = arg_sock(env, argv[0], &id);
  if (s == NULL) return num(env, -EBADF);
  if (s->busy) s->closing = 1;
  else udp_close(id);
  return num(env, 0);
}

/* udpPeer(i): the address of datagram i of the batch being answered, as text (as Node's rinfo.address), or undefined. */
static napi_value js_udp_peer(napi_env env, napi_callback_info info) {
  ARGS(1);
  double d = arg_num(env, argv[0]);
  if (!(d >= 0 && d < g_batch_n)) return NULL;
  const addr_t *a = &g_raddr[(int)d];
  char text[INET6_ADDRSTRLEN] = "";
  if (a->sa.sa_family == AF_INET) inet_ntop(AF_INET, &a->v4.sin_addr, text, sizeof text);
  else inet_ntop(AF_INET6, &a->v6.sin6_addr, text, sizeof text);
  napi_value s;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
  return s;
}

/* udpStats(id): [answers sent, answers dropped on send errors, batches read], or undefined. */
static napi_value js_udp_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  int id;
  usock_t *s = arg_sock(env, argv[0], &id);
  if (s == NULL) return NULL;
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  napi_set_element(env, arr, 0, num(env, s->sent));
  napi_set_element(env, arr, 1, num(env, s->send_errors));
  napi_set_element(env, arr, 2, num(env, s->batches));
  return arr;
}

void udp_constants(napi_env env, napi_value out) {
  napi_set_named_property(env, out, "UDP_BATCH", num(env, UDP_BATCH));
  napi_set_named_property(env, out, "UDP_IN_SLOT", num(env, UDP_IN_SLOT));
  napi_set_named_property(env, out, "UDP_OUT_SLOT", num(env, UDP_OUT_SLOT));
  napi_set_named_property(env, out, "UDP_META", num(env, UDP_META));
}

void udp_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {
      {"udpArena", js_udp_arena}, {"udpOpen", js_udp_open}, {"udpLocal", js_udp_local},
      {"udpClose", js_udp_close}, {"udpPeer", js_udp_peer}, {"udpStats", js_udp_stats},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
