/*
 * Byte streams for the HTTP engine (Linux): TCP sockets that C reads and writes and
 * JavaScript drives, on relay.c's epoll set and event records. Where a pair in relay.c
 * moves bytes by itself, a stream hands every read to JavaScript (which parses and
 * rewrites HTTP) and writes what JavaScript gives it.
 *
 * What it saves over Node's TCP handles: a read is one recv() into a shared arena and a
 * record in the batch, and JavaScript is entered once per batch for all the streams
 * that were ready, not once per read through libuv, the stream wrapper and
 * MakeCallback; a write is one send() called straight from JavaScript.
 *
 * Reads: a stream that is not paused reads once per readiness edge, up to READ_CHUNK,
 * into the arena. The arena is handed to JavaScript with the batch and is free again
 * after it. A stream that filled its read, or found the arena full, or was resumed
 * while bytes were waiting, goes on the ready list, which an eventfd in the epoll set
 * wakes the loop for. A short read ends the edge, except when the edge said the peer
 * had ended (EPOLLRDHUP): then the next read, which sees the end, follows at once.
 *
 * Writes: what the kernel does not take at once is kept, in order, and written when
 * the socket is writable again; the stream then reports "drained". A FIN asked for goes
 * after the kept bytes. Closing is JavaScript's call (close()); C closes a stream on
 * its own only after a read, write or connect error, which it reports.
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

/* The most one read takes. */
#define READ_CHUNK (64 * 1024)
/* The largest read head_length looks at: larger ones are bodies, or heads with a body. */
#define HEAD_SCAN 4096
/* Latin-1 strings up to this size are copied here before they are written. */
#define STRING_BYTES (64 * 1024)

typedef struct {
  uint32_t slot, gen;
  int fd;
  uint8_t connecting, can_read, can_write, rdhup, paused, eof, shut_wanted, shut_done, want_drain, ready;
  uint8_t counted; /* accepted: counted in the accept balance (load_add) */
  /*
   * TLS (tls.c): in the handshake, or failed in it (JavaScript closes the stream then);
   * `prelude`: the handshake waits while JavaScript reads a PROXY header (streamStartTls).
   */
  uint8_t handshaking, tls_failed, prelude;
  /* What the handshake's last step waited for (TLS_WANT_READ or _WRITE; 0 before the first). */
  uint8_t hs_wait;
  /* Bytes waiting to be written: out[off, off + len). With TLS, plaintext: SSL_write takes all of it or none. */
  char *out;
  uint32_t off, len, cap;
  addr_t peer;
  SSL *ssl;
  /* Why the handshake failed. */
  char *why;
} stream_t;

slots_t g_streams;

static char *g_arena;
static uint32_t g_arena_used;
static napi_ref g_arena_ref;

/* Streams to read again soon, as (gen << 32 | slot); the spare list is swapped in while one is read. */
static uint64_t *g_ready, *g_spare;
static uint32_t g_nready, g_ready_cap, g_spare_cap;
static int g_wake = -1, g_wake_armed;

static char g_string[STRING_BYTES];
/* A head and a body joined for one TLS record. */
static char g_joined[16 * 1024];

/* ---- bookkeeping ------------------------------------------------------------------ */

static double stream_id(const stream_t *s) { return slot_id(s->slot, s->gen); }

static stream_t *by_slot(uint32_t slot, uint32_t gen) { return slot_get(&g_streams, slot, gen); }

static stream_t *lookup(double id) { return slot_by_id(&g_streams, id); }

static stream_t *new_stream(int fd) {
  stream_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  if (slot_add(&g_streams, s, &s->slot) < 0) {
    free(s);
    return NULL;
  }
  s->gen = g_streams.gens[s->slot];
  s->fd = fd;
  update_ref();
  return s;
}

static int watch(stream_t *s) {
  struct epoll_event ev = {0};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = ((uint64_t)s->gen << 32) | ((uint64_t)s->slot << 2) | TAG_STREAM;
  return epoll_ctl(g_ep, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

/* Closes the socket and frees the stream (its id is stale from now on). */
static void release(stream_t *s) {
  if (s->counted) load_add(-1);
  if (s->ssl != NULL) tls_free(s->ssl);
  free(s->why);
  if (s->fd >= 0) close(s->fd);
  free(s->out);
  slot_remove(&g_streams, s->slot);
  free(s);
  update_ref();
}

/* An I/O error: the stream is closed and JavaScript told. Returns -1. */
static int fail(stream_t *s, int err) {
  double id = stream_id(s);
  release(s);
  emit(EV_S_ERROR, id, -err, 0, 0, 0);
  return -1;
}

/* ---- the ready list ------------------------------------------------------------- */

static void arm_wake(void) {
  if (g_wake_armed) return;
  uint64_t one = 1;
  if (write(g_wake, &one, sizeof one) == sizeof one) g_wake_armed = 1;
}

/* Reads `s` again soon (a full read, a full arena, a resume with bytes waiting). */
static void make_ready(stream_t *s) {
  if (s->ready) return;
  if (g_nready == g_ready_cap) {
    uint32_t cap = g_ready_cap == 0 ? 256 : g_ready_cap * 2;
    uint64_t *a = realloc(g_ready, cap * sizeof *a);
    if (a == NULL) return; /* the stream waits for its next edge */
    g_ready = a;
    g_ready_cap = cap;
  }
  s->ready = 1;
  g_ready[g_nready++] = ((uint64_t)s->gen << 32) | s->slot;
  arm_wake();
}

/* ---- reading and writing ---------------------------------------------------------- */

/* Bytes may be waiting: the socket was readable, or OpenSSL holds some already. */
static int has_input(stream_t *s) { return s->can_read || (s->ssl != NULL && tls_pending(s->ssl)); }

/*
 * The length of the HTTP/1 head that starts a read of at most HEAD_SCAN bytes (up to
 * and including its first CRLF CRLF); 0 when there is none, or the read is larger. It
 * lets JavaScript take a head that arrived whole straight from the arena, without
 * searching or copying the read first (exchange.ts). Only a hint: JavaScript parses
 * the head itself, and any read without one takes the general way. Larger reads are
 * not searched: memmem over 4 KiB costs as much as copying 64 KiB, which bulk bodies
 * would pay on every read for nothing.
 */
static double head_length(const char *p, size_t n) {
  if (n > HEAD_SCAN) return 0;
  const char *end = memmem(p, n, "\r\n\r\n", 4);
  return end == NULL ? 0 : (double)(end - p + 4);
}

/* One read into the arena, when the stream may read. -1: the stream closed. */
static int read_once(stream_t *s) {
  if (!has_input(s) || s->paused || s->eof || s->connecting || (s->handshaking && !s->prelude)) return 0;
  if (ARENA_BYTES - g_arena_used < READ_CHUNK) {
    make_ready(s); /* after JavaScript has had this batch */
    return 0;
  }
  for (;;) {
    int more = 0;
    ssize_t n;
    if (s->prelude) n = recv(s->fd, g_arena + g_arena_used, READ_CHUNK, MSG_PEEK); /* all so far, left in place for OpenSSL */
    else if (s->ssl != NULL) n = tls_recv(s->ssl, g_arena + g_arena_used, READ_CHUNK, &more);
    else n = recv(s->fd, g_arena + g_arena_used, READ_CHUNK, 0);
    if (n > 0) {
      emit(EV_S_DATA, stream_id(s), g_arena_used, (double)n, head_length(g_arena + g_arena_used, (size_t)n), 0);
      g_arena_used += (uint32_t)n;
      if (s->prelude) s->can_read = 0; /* the next edge brings more */
      else if (n == READ_CHUNK || s->rdhup || more) make_ready(s); /* more, or the end, is waiting */
      else s->can_read = 0;
      return 0;
    }
    if (n == 0) {
      s->eof = 1;
      s->can_read = 0;
      emit(EV_S_EOF, stream_id(s), 0, 0, 0, 0);
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s->can_read = 0;
      return 0;
    }
    return fail(s, errno);
  }
}

static void shut(stream_t *s) {
  s->shut_done = 1;
  if (s->ssl != NULL) tls_close_notify(s->ssl);
  shutdown(s->fd, SHUT_WR); /* ENOTCONN: the peer is gone, which a read reports */
}

/* Writes the kept bytes. -1: the stream closed. */
static int write_out(stream_t *s) {
  if (s->ssl != NULL && s->len > 0) {
    if (tls_send(s->ssl, s->out + s->off, s->len) < 0) {
      if (errno != EAGAIN) return fail(s, errno);
      s->can_write = 0;
      return 0;
    }
    s->len = 0;
  }
  while (s->len > 0) {
    ssize_t n = send(s->fd, s->out + s->off, s->len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s->can_write = 0;
        return 0;
      }
      return fail(s, errno);
    }
    s->off += (uint32_t)n;
    s->len -= (uint32_t)n;
    if (s->len > 0) {
      s->can_write = 0;
      return 0;
    }
  }
  free(s->out);
  s->out = NULL;
  s->off = s->cap = 0;
  if (s->shut_wanted && !s->shut_done) shut(s);
  if (s->want_drain) {
    s->want_drain = 0;
    emit(EV_S_DRAIN, stream_id(s), 0, 0, 0, 0);
  }
  return 0;
}

/* Keeps `n` bytes to write after the ones kept already. */
static int keep(stream_t *s, const char *p, size_t n) {
  if (s->off > 0 && s->len > 0) {
    memmove(s->out, s->out + s->off, s->len);
    s->off = 0;
  }
  size_t need = (size_t)s->len + n;
  if (need > UINT32_MAX) return -ENOMEM;
  if (need > s->cap) {
    size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    char *b = realloc(s->out, cap);
    if (b == NULL) return -ENOMEM;
    s->out = b;
    s->cap = (uint32_t)cap;
  }
  memcpy(s->out + s->len, p, n);
  s->len += (uint32_t)n;
  return 0;
}

/* ---- events from relay.c's loop --------------------------------------------------- */

static void connected_or_not(stream_t *s, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) err = ECONNREFUSED;
    double id = stream_id(s);
    release(s);
    emit(EV_S_CONNECT, id, -err, 0, 0, 0);
    return;
  }
  if (!(events & EPOLLOUT)) return;
  s->connecting = 0;
  emit(EV_S_CONNECT, stream_id(s), 0, 0, 0, 0);
  if (s->len > 0) write_out(s);
  else if (s->shut_wanted && !s->shut_done) shut(s);
}

/* A step of the TLS handshake: 0 when it is done, -1 while it goes on or after it failed. */
static int handshake(stream_t *s) {
  if (s->tls_failed) return -1;
  int r = tls_handshake(s->ssl), sys = errno;
  s->hs_wait = (uint8_t)(r == TLS_WANT_READ || r == TLS_WANT_WRITE ? r : 0);
  if (r == TLS_WANT_READ) s->can_read = 0;
  if (r == TLS_WANT_WRITE) s->can_write = 0;
  if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) return -1;
  if (r == TLS_FAILED) {
    s->tls_failed = 1;
    s->why = tls_failure(s->ssl, sys);
    emit(EV_S_SECURE, stream_id(s), -EPROTO, 0, 0, 0);
    return -1;
  }
  s->handshaking = 0;
  emit(EV_S_SECURE, stream_id(s), 0, tls_alpn(s->ssl), 0, 0);
  return 0;
}

void stream_event(uint32_t slot, uint32_t gen, uint32_t e) {
  stream_t *s = by_slot(slot, gen);
  if (s == NULL) return; /* closed earlier in this batch, or by JavaScript */
  if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->can_read = 1;
  if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->rdhup = 1;
  if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s->can_write = 1;
  if (s->handshaking && !s->prelude) {
    /* an edge that does not bring what the handshake waits for (EPOLLOUT while it reads) changes nothing */
    if ((s->hs_wait == TLS_WANT_READ && !s->can_read) || (s->hs_wait == TLS_WANT_WRITE && !s->can_write)) return;
    if (handshake(s) < 0) return;
  }
  if (s->connecting) {
    uint32_t sl = s->slot, g = s->gen;
    connected_or_not(s, e);
    if (by_slot(sl, g) == NULL) return;
    if (s->connecting) return;
  } else if (s->len > 0 && s->can_write) {
    if (write_out(s) < 0) return;
  }
  if (s->paused && (e & EPOLLERR)) {
    /* A paused stream does not read, but an error (a reset) should not wait for it. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      fail(s, err);
      return;
    }
  }
  read_once(s);
}

/* The eventfd fired: read the streams on the ready list, as far as there is room. */
void stream_wake(void) {
  uint64_t v;
  if (read(g_wake, &v, sizeof v) < 0) { /* EAGAIN: nothing to reset */
  }
  g_wake_armed = 0;
  uint64_t *list = g_ready;
  uint32_t n = g_nready, cap = g_ready_cap;
  g_ready = g_spare;
  g_ready_cap = g_spare_cap;
  g_nready = 0;
  uint32_t i = 0;
  for (; i < n; i++) {
    if (room() <= 3 * EPOLL_BATCH || ARENA_BYTES - g_arena_used < READ_CHUNK) break;
    stream_t *s = by_slot((uint32_t)list[i], (uint32_t)(list[i] >> 32));
    if (s == NULL) continue;
    s->ready = 0;
    if (s->handshaking && !s->prelude && handshake(s) < 0) continue; /* after streamStartTls */
    read_once(s);
  }
  /* What did not fit waits for the next batch, ahead of anything newer. */
  for (; i < n; i++) {
    stream_t *s = by_slot((uint32_t)list[i], (uint32_t)(list[i] >> 32));
    if (s == NULL) continue;
    s->ready = 0;
    make_ready(s);
  }
  g_spare = list;
  g_spare_cap = cap;
}

void stream_accepted(uint32_t li, int fd, const addr_t *peer) {
  stream_t *s = new_stream(fd);
  if (s == NULL) {
    close(fd);
    emit(EV_ACCEPT_ERROR, li, -ENOMEM, 0, 0, 0);
    return;
  }
  s->peer = *peer;
  s->counted = 1;
  load_add(1);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int err = 0, prelude = 0;
  s->ssl = tls_accepting(li, fd, &prelude, &err);
  s->handshaking = s->ssl != NULL;
  s->prelude = (uint8_t)prelude;
  if (err == 0) err = watch(s);
  if (err < 0) {
    release(s);
    emit(EV_ACCEPT_ERROR, li, err, 0, 0, 0);
    return;
  }
  emit(EV_S_ACCEPT, li, stream_id(s), 0, 0, 0);
  /*
   * The ClientHello is usually here already (the client sends it as soon as its connect
   * completes, before the accept): answer it now, as HAProxy does, rather than after
   * JavaScript has had this batch and the next epoll_wait. A full handshake's client
   * waits that much less for the server's flight (wrk busy-polls meanwhile).
   */
  if (s->handshaking && !s->prelude) {
    s->can_read = 1;
    handshake(s);
  }
}

/*
 * After JavaScript has read a batch. Slots of streams closed since the last batch only
 * become free now: an event naming a stream that C closed (a reset, a refused connect)
 * may still be waiting in the batch, and JavaScript finds a stream's owner by its slot.
 * A stream JavaScript opened while reading the batch must not take such a slot, or the
 * closed stream's last event would miss its owner, which would then wait forever.
 */
void stream_flushed(int outermost) {
  g_arena_used = 0;
  if (outermost) slot_release_held(&g_streams);
}

int stream_init(void) {
  int err = tls_init();
  if (err < 0) return err;
  g_streams.hold = 1; /* see stream_flushed */
  g_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g_wake < 0) return -errno;
  struct epoll_event ev = {0};
  ev.events = EPOLLIN;
  ev.data.u64 = ((uint64_t)WAKE_INDEX << 2) | TAG_LISTENER;
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, g_wake, &ev) < 0) return -errno;
  return 0;
}

/* ---- functions for JavaScript ----------------------------------------------------- */

/* streamArena(arena: Uint8Array of at least 1 MiB): where DATA records point. */
static napi_value js_arena(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value ab;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array ||
      length < ARENA_BYTES) {
    napi_throw_type_error(env, NULL, "streamArena(arena: Uint8Array of 1 MiB)");
    return NULL;
  }
  if (g_arena_ref != NULL) napi_delete_reference(env, g_arena_ref);
  napi_create_reference(env, argv[0], 1, &g_arena_ref);
  g_arena = data;
  return num(env, 0);
}

/* streamConnect(address, port): a new stream's id (EV_S_CONNECT follows), or -errno. */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (g_arena == NULL) return num(env, -EINVAL);
  addr_t to;
  int fd = connect_arg(env, argv[0], argv[1], &to);
  if (fd < 0) return num(env, fd);
  stream_t *s = new_stream(fd);
  if (s == NULL) {
    close(fd);
    return num(env, -ENOMEM);
  }
  s->connecting = 1;
  s->peer = to;
  int err = watch(s);
  if (err < 0) {
    release(s);
    return num(env, err);
  }
  return num(env, stream_id(s));
}

/* The bytes of a latin1 string or a Uint8Array argument; *heap is set when they were copied to the heap. */
static int bytes_of(napi_env env, napi_value v, const char **p, size_t *n, char **heap, char *scratch, size_t scratch_len) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_string) {
    if (napi_get_value_string_latin1(env, v, scratch, scratch_len, n) != napi_ok) return -EINVAL;
    *p = scratch;
    if (*n >= scratch_len - 1) {
      /* maybe cut short: ask for the length, then copy all of it */
      napi_get_value_string_latin1(env, v, NULL, 0, n);
      *heap = malloc(*n + 1);
      if (*heap == NULL) return -ENOMEM;
      napi_get_value_string_latin1(env, v, *heap, *n + 1, n);
      *p = *heap;
    }
    return 0;
  }
  napi_typedarray_type type;
  size_t offset;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, n, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) return -EINVAL;
  *p = data;
  return 0;
}

/*
 * A write on a TLS stream: the pieces as one record when they fit in one (a head and a
 * small body), sealed and sent now when nothing is kept, else kept after the rest.
 * 1, 0 (kept: EV_S_DRAIN follows) or -errno.
 */
static int write_tls(stream_t *s, struct iovec *iov, int niov) {
  size_t total = iov[0].iov_len + (niov > 1 ? iov[1].iov_len : 0);
  if (total == 0) return 1;
  if (s->len > 0 || s->handshaking || !s->can_write) {
    for (int i = 0; i < niov; i++)
      if (keep(s, iov[i].iov_base, iov[i].iov_len) < 0) return -ENOMEM;
    s->want_drain = 1;
    return 0;
  }
  const char *p = iov[0].iov_base;
  char *joined = NULL;
  if (niov > 1 && iov[1].iov_len > 0) {
    joined = total <= sizeof g_joined ? g_joined : malloc(total);
    if (joined == NULL) return -ENOMEM;
    memcpy(joined, iov[0].iov_base, iov[0].iov_len);
    memcpy(joined + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
    p = joined;
  }
  int result = 1;
  if (tls_send(s->ssl, p, total) < 0) {
    if (errno != EAGAIN) result = -errno;
    else if (keep(s, p, total) < 0) result = -ENOMEM;
    else {
      s->can_write = 0;
      s->want_drain = 1;
      result = 0;
    }
  }
  if (joined != g_joined) free(joined);
  return result;
}

/*
 * streamWrite(id, data: Uint8Array | string (latin1) [, body: Uint8Array, start, end]):
 * writes data, then body[start, end) when given (one sendmsg for both). 1 when the kernel
 * took it all, 0 when some is kept (EV_S_DRAIN follows once it is written), or -errno
 * (the stream stays open: JavaScript closes it).
 */
static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(5);
  napi_value r;
  stream_t *s = lookup(arg_num(env, argv[0]));
  if (s == NULL || s->shut_wanted) {
    napi_create_int32(env, s == NULL ? -EBADF : -EPIPE, &r);
    return r;
  }
  struct iovec iov[2];
  int niov = 1;
  char *heap = NULL;
  const char *p;
  size_t n;
  int result = bytes_of(env, argv[1], &p, &n, &heap, g_string, STRING_BYTES);
  iov[0].iov_base = (void *)p;
  iov[0].iov_len = n;
  if (result == 0 && argc >= 5) {
    const char *b;
    size_t bl;
    char *none = NULL;
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    double from = arg_num(env, argv[3]), to = arg_num(env, argv[4]);
    if (t == napi_string || bytes_of(env, argv[2], &b, &bl, &none, NULL, 0) < 0 || !(from >= 0 && to >= from && to <= (double)bl)) {
      result = -EINVAL;
    } else {
      iov[1].iov_base = (void *)(b + (size_t)from);
      iov[1].iov_len = (size_t)(to - from);
      niov = 2;
    }
  }
  if (result == 0) result = 1;
  if (result == 1 && s->ssl != NULL) {
    result = write_tls(s, iov, niov);
  } else if (result == 1 && s->len == 0 && !s->connecting && s->can_write) {
    struct msghdr msg = {0};
    msg.msg_iov = iov;
    msg.msg_iovlen = niov;
    for (;;) {
      ssize_t w = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) s->can_write = 0;
        else result = -errno;
        break;
      }
      for (int i = 0; i < niov; i++) {
        size_t took = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
        iov[i].iov_base = (char *)iov[i].iov_base + took;
        iov[i].iov_len -= took;
        w -= (ssize_t)took;
      }
      if (iov[0].iov_len + (niov > 1 ? iov[1].iov_len : 0) > 0) s->can_write = 0; /* short: the socket buffer is full */
      break;
    }
  }
  for (int i = 0; result == 1 && s->ssl == NULL && i < niov; i++) {
    if (iov[i].iov_len == 0) continue;
    if (keep(s, iov[i].iov_base, iov[i].iov_len) < 0) result = -ENOMEM;
    else s->want_drain = 1;
  }
  if (result == 1 && s->want_drain && s->len > 0) result = 0;
  free(heap);
  napi_create_int32(env, result, &r);
  return r;
}

/*
 * streamStartTls(id, consumed): the PROXY header JavaScript read is the first `consumed`
 * bytes: they are taken off the socket and the TLS handshake starts on what follows.
 * 0 or -errno (the stream stays: JavaScript closes it).
 */
static napi_value js_start_tls(napi_env env, napi_callback_info info) {
  ARGS(2);
  stream_t *s = lookup(arg_num(env, argv[0]));
  double consumed = arg_num(env, argv[1]);
  if (s == NULL || !s->prelude) return num(env, -EINVAL);
  if (!(consumed >= 0 && consumed <= READ_CHUNK)) return num(env, -EINVAL);
  size_t left = (size_t)consumed;
  while (left > 0) {
    /* the bytes were peeked, so they are there: this does not block */
    ssize_t n = recv(s->fd, g_string, left < STRING_BYTES ? left : STRING_BYTES, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return num(env, n == 0 ? -EPIPE : -errno);
    left -= (size_t)n;
  }
  s->prelude = 0;
  s->can_read = 1;
  make_ready(s); /* the handshake runs from the loop, which reports how it went */
  return num(env, 0);
}

/* streamTls(id): see tls_describe; undefined for a plain stream. */
static napi_value js_tls(napi_env env, napi_callback_info info) {
  ARGS(1);
  stream_t *s = lookup(arg_num(env, argv[0]));
  return s == NULL || s->ssl == NULL ? NULL : tls_describe(env, s->ssl, s->why);
}

/* streamEnd(id): a FIN after the kept bytes. */
static napi_value js_end(napi_env env, napi_callback_info info) {
  ARGS(1);
  stream_t *s = lookup(arg_num(env, argv[0]));
  if (s == NULL) return num(env, -EBADF);
  s->shut_wanted = 1;
  if (s->len == 0 && !s->connecting && !s->handshaking && !s->shut_done) shut(s);
  return num(env, 0);
}

/* streamPause(id, paused): stops or restarts reading. */
static napi_value js_pause(napi_env env, napi_callback_info info) {
  ARGS(2);
  stream_t *s = lookup(arg_num(env, argv[0]));
  if (s == NULL) return num(env, -EBADF);
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  s->paused = on;
  if (!on && has_input(s) && !s->eof) make_ready(s);
  return num(env, 0);
}

/* streamClose(id): closes the socket now; kept bytes are dropped (as Node's destroy()). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  stream_t *s = lookup(arg_num(env, argv[0]));
  if (s == NULL) return num(env, -EBADF);
  release(s);
  return num(env, 0);
}

/* streamPeer(id): [address, port] of the peer (no syscall), or undefined. */
static napi_value js_peer(napi_env env, napi_callback_info info) {
  ARGS(1);
  stream_t *s = lookup(arg_num(env, argv[0]));
  if (s == NULL) return NULL;
  return address_of(env, &s->peer.sa);
}

/* streamLocal(id): [address, port] of our end, or undefined. */
static napi_value js_local(napi_env env, napi_callback_info info) {
  ARGS(1);
  stream_t *s = lookup(arg_num(env, argv[0]));
  return s == NULL ? NULL : local_address_of(env, s->fd);
}

/* streamCount(): streams open now (for tests). */
static napi_value js_count(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, g_streams.live);
}

void stream_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {
      {"streamArena", js_arena}, {"streamConnect", js_connect}, {"streamWrite", js_write}, {"streamEnd", js_end},
      {"streamPause", js_pause}, {"streamClose", js_close},     {"streamPeer", js_peer},   {"streamLocal", js_local},
      {"streamCount", js_count}, {"streamTls", js_tls}, {"streamStartTls", js_start_tls},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
