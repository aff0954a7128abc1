/*
 * Fulcrum's native TCP relay (Linux): accepts, connects and relays bytes for `mode: tcp`
 * listeners without a JavaScript call per read, write or close. The epoll loop, the
 * event records and the listeners here also serve the HTTP engine's byte streams
 * (stream.c, through core.h). JavaScript keeps every
 * decision (routing, the pick, retries, timeouts, limits, logging); this file only moves
 * bytes and reports what happened, in batches.
 *
 * How it sits in Node: one epoll set of its own, itself watched by one uv_poll handle on
 * Node's loop. When it is readable, every ready socket is handled here in C, and the
 * events JavaScript must know about (accepted, connected or not, closed) are written
 * into a Float64Array that JavaScript handed over, then delivered with one call per
 * batch. Functions JavaScript calls (connect, close, ...) never call back into it.
 *
 * Sockets are edge-triggered (EPOLLET) and registered once, for reading and writing, so
 * a connection costs no epoll_ctl after its ADD and none at close (a descriptor that is
 * never duplicated leaves the set when it is closed). Listening sockets are
 * level-triggered, so a batch of accepts can stop early and resume on the next wake;
 * they are duplicates of a socket the primary and other workers hold too, so they are
 * taken out of the set explicitly before they are closed.
 *
 * Relay semantics are those of src/proxy/tcp/relay.ts: at most one read in flight per
 * direction (a read stops until its bytes are written), EOF from one side becomes a
 * FIN (shutdown) to the other once its bytes are out, the pair closes when both ways
 * have ended and nothing is queued, and a reset or write error on one side closes the
 * pair and passes on as a reset (SO_LINGER 0) to the other, unless a FIN already went
 * there.
 */
#define _GNU_SOURCE
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REC 6
/* Numbers stats() writes: bytes in, bytes out, idle ms. */
#define STATS_FIELDS 3
/* How a pair ended (EV_CLOSED a). */
enum { END_DONE = 0, END_CLIENT_RESET = 1, END_SERVER_RESET = 2 };
enum { ST_WAITING = 0, ST_CONNECTING = 1, ST_RELAYING = 2 };

/* Reads without a buffer of their own land here and are written from here at once. */
#define SCRATCH_BYTES (64 * 1024)
/* A direction that could not write a large read keeps a buffer this size, read into directly. */
#define BULK_BYTES (256 * 1024)
/* A read at least this large that could not be written at once moves to a bulk buffer. */
#define PROMOTE_BYTES (32 * 1024)
#define MAX_BULK 256
#define FREE_BULK_MAX 16
#define ACCEPT_BATCH 64
#define RETRY_ACCEPT_MS 100
/* How long a worker with more connections than another leaves its listeners to it. */
#define YIELD_ACCEPT_MS 1

typedef struct {
  int fd;
  uint8_t can_read, can_write, eof, shut;
  /* The peer's FIN (or an error) was reported: a short read is not the last one. */
  uint8_t rdhup;
  /* Bytes waiting to be written into this socket: buf[off, off + len). */
  char *buf;
  uint32_t off, len, cap;
} side_t;

typedef struct {
  uint32_t slot, gen;
  uint8_t state;
  /* JavaScript reads the client itself (a prelude: PROXY header, ClientHello): tell it when there is more. */
  uint8_t want_read;
  /* Counted in the accept balance (load_add). */
  uint8_t counted;
  side_t c, s;
  double bytes_in, bytes_out;
  uint64_t last; /* uv_now() at the last read either way */
  addr_t peer;
} conn_t;

static napi_env g_env;
static napi_ref g_cb, g_events_ref, g_stats_ref;
static napi_async_context g_actx;
static double *g_events, *g_stats;
static char *g_readbuf;
static size_t g_readbuf_len;
static napi_ref g_readbuf_ref;
static uint32_t g_events_cap, g_nev;
int g_ep = -1;
uv_loop_t *g_loop;
static uv_poll_t g_poll;
static uv_timer_t g_retry;
/* The accept balance: g_yielded while a listener rests so a less loaded worker accepts;
 * g_forced, a batch to take whatever the counts, once rests in a row have let connections
 * wait while the others looked stalled (they did not wake once in STALL_RESTS rests: on a
 * loaded machine a runnable worker can wait that long for a CPU) or YIELD_RUN_MAX rests
 * passed. */
static uint8_t g_yielded[MAX_LISTENERS];
static uint8_t g_yield_run[MAX_LISTENERS];
static uint8_t g_forced[MAX_LISTENERS];
static uint32_t g_others_beat;
static uint8_t g_stall_rests;
#define STALL_RESTS 8
#define YIELD_RUN_MAX 32
static uv_timer_t g_yield_timer;
static int g_referenced;

static slots_t g_pairs;

static int g_listen[MAX_LISTENERS];
static uint8_t g_paused[MAX_LISTENERS];
/* A listener's connections are relayed pairs (0) or byte streams for JavaScript (1). */
static uint8_t g_kind[MAX_LISTENERS];
static uint32_t g_nlisten, g_active_listeners;

static char g_scratch[SCRATCH_BYTES];
static char *g_free_bulk[FREE_BULK_MAX];
static int g_nfree_bulk, g_bulk, g_exact;

/* ---- bookkeeping ------------------------------------------------------------------ */

static double conn_id(const conn_t *c) { return slot_id(c->slot, c->gen); }

static conn_t *lookup(double id) { return slot_by_id(&g_pairs, id); }

/* Whether the pair that was in `slot` under `gen` is still open. */
static int still_open(uint32_t slot, uint32_t gen) { return slot_get(&g_pairs, slot, gen) != NULL; }

static uint64_t tag(const conn_t *c, int which) {
  return ((uint64_t)c->gen << 32) | ((uint64_t)c->slot << 2) | (uint64_t)which;
}

/* The poll handle keeps Node's loop alive only while a listener or a pair is open. */
void update_ref(void) {
  int want = g_pairs.live > 0 || g_streams.live > 0 || g_active_listeners > 0;
  if (want == g_referenced) return;
  g_referenced = want;
  if (want) uv_ref((uv_handle_t *)&g_poll);
  else uv_unref((uv_handle_t *)&g_poll);
}

static conn_t *new_conn(void) {
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  if (slot_add(&g_pairs, c, &c->slot) < 0) {
    free(c);
    return NULL;
  }
  c->gen = g_pairs.gens[c->slot];
  c->c.fd = -1;
  c->s.fd = -1;
  update_ref();
  return c;
}

/* ---- buffers ---------------------------------------------------------------------- */

static char *take_bulk(void) {
  if (g_nfree_bulk > 0) return g_free_bulk[--g_nfree_bulk];
  if (g_bulk >= MAX_BULK) return NULL;
  char *b = malloc(BULK_BYTES);
  if (b != NULL) g_bulk++;
  return b;
}

static void drop_buffer(side_t *s) {
  if (s->buf == NULL) return;
  if (s->cap == BULK_BYTES) {
    if (g_nfree_bulk < FREE_BULK_MAX) {
      g_free_bulk[g_nfree_bulk++] = s->buf;
    } else {
      free(s->buf);
      g_bulk--;
    }
  } else {
    free(s->buf);
    g_exact--;
  }
  s->buf = NULL;
  s->off = s->len = s->cap = 0;
}

/* Keeps `n` bytes from `src` to be written into `s` later; 0 or -ENOMEM. */
static int keep(side_t *s, const char *src, size_t n, int bulk) {
  char *b = bulk ? take_bulk() : NULL;
  uint32_t cap = BULK_BYTES;
  if (b == NULL) {
    b = malloc(n);
    if (b == NULL) return -ENOMEM;
    g_exact++;
    cap = (uint32_t)n;
  }
  memcpy(b, src, n);
  s->buf = b;
  s->cap = cap;
  s->off = 0;
  s->len = (uint32_t)n;
  return 0;
}

/* ---- events to JavaScript --------------------------------------------------------- */

static void flush(void) {
  if (g_nev == 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(g_env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(g_env, g_cb, &cb);
  napi_get_global(g_env, &recv);
  napi_create_uint32(g_env, g_nev, &argv[0]);
  g_nev = 0; /* records stay readable until the next emit, which only happens after this returns */
  static int depth = 0;
  depth++;
  napi_status st = napi_make_callback(g_env, g_actx, recv, cb, 1, argv, &result);
  depth--;
  stream_flushed(depth == 0);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(g_env, &err);
    napi_fatal_exception(g_env, err);
  }
  napi_close_handle_scope(g_env, scope);
}

void emit(int type, double id, double a, double b, double c, double d) {
  if (g_nev == g_events_cap) flush();
  double *r = g_events + (size_t)g_nev * REC;
  r[0] = type;
  r[1] = id;
  r[2] = a;
  r[3] = b;
  r[4] = c;
  r[5] = d;
  g_nev++;
}

/* ---- closing ---------------------------------------------------------------------- */

static void close_side(side_t *s, int reset) {
  if (s->fd >= 0) {
    if (reset && !s->shut) {
      struct linger l = {1, 0};
      setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(s->fd);
    s->fd = -1;
  }
  drop_buffer(s);
}

/* Closes both sockets and frees the pair; `reset_side` (or NULL) gets a RST. */
static void release(conn_t *c, side_t *reset_side) {
  if (c->counted) load_add(-1);
  close_side(&c->c, reset_side == &c->c);
  close_side(&c->s, reset_side == &c->s);
  slot_remove(&g_pairs, c->slot);
  free(c);
  update_ref();
}

/* Forgets the server socket (a failed or abandoned connect); the pair waits for the next. */
static void forget_server(conn_t *c) {
  close_side(&c->s, 0);
  memset(&c->s, 0, sizeof c->s);
  c->s.fd = -1;
  c->state = ST_WAITING;
}

/* The pair ends on its own: tell JavaScript. Returns -1 (the pair is gone). */
static int finish(conn_t *c, int reason, int err) {
  side_t *reset_side = reason == END_SERVER_RESET ? &c->c : reason == END_CLIENT_RESET ? &c->s : NULL;
  double id = conn_id(c), in = c->bytes_in, out = c->bytes_out;
  release(c, reset_side);
  emit(EV_CLOSED, id, reason, -err, in, out);
  return -1;
}

/* An I/O error on side `s`. */
static int fail(conn_t *c, side_t *s, int err) {
  return finish(c, s == &c->c ? END_CLIENT_RESET : END_SERVER_RESET, err);
}

/* ---- the byte pump ---------------------------------------------------------------- */

/* `from` has ended and everything for `to` is written: FIN to `to`, or close when both ways are done. */
static int forward_eof(conn_t *c, side_t *from, side_t *to) {
  if (to->eof && from->len == 0) return finish(c, END_DONE, 0); /* closing sends the FIN still owed */
  if (!to->shut) {
    to->shut = 1;
    if (shutdown(to->fd, SHUT_WR) < 0 && errno != ENOTCONN) return fail(c, to, errno);
  }
  return 0;
}

/* Moves bytes from `from` into `to` until one of them would block. -1: the pair closed. */
static int pump(conn_t *c, side_t *from, side_t *to) {
  for (;;) {
    if (to->len > 0) {
      if (!to->can_write) return 0;
      ssize_t n = send(to->fd, to->buf + to->off, to->len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          to->can_write = 0;
          return 0;
        }
        return fail(c, to, errno);
      }
      to->off += (uint32_t)n;
      to->len -= (uint32_t)n;
      if (to->len > 0) {
        to->can_write = 0; /* a short write: the socket buffer is full, an edge follows */
        return 0;
      }
      to->off = 0;
      if (to->cap != BULK_BYTES) drop_buffer(to);
    }
    if (from->eof) return forward_eof(c, from, to);
    if (!from->can_read) {
      if (to->len == 0) drop_buffer(to); /* idle: an idle pair holds no buffer */
      return 0;
    }
    int direct = to->buf == NULL;
    char *dst = direct ? g_scratch : to->buf;
    size_t cap = direct ? SCRATCH_BYTES : to->cap;
    ssize_t n = recv(from->fd, dst, cap, 0);
    if (n > 0) {
      c->last = uv_now(g_loop);
      if (from == &c->c) c->bytes_in += (double)n;
      else c->bytes_out += (double)n;
      /* A short read emptied the socket: the next bytes bring a new edge, so no recv()
       * is spent on the EAGAIN (as nginx does). Not when the end was reported: that
       * read follows at once. */
      if ((size_t)n < cap && !from->rdhup) from->can_read = 0;
      if (!direct) {
        to->off = 0;
        to->len = (uint32_t)n;
        continue;
      }
      ssize_t w = 0;
      if (to->can_write) {
        w = send(to->fd, g_scratch, (size_t)n, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail(c, to, errno);
          w = 0;
        }
      }
      if (w < n) {
        to->can_write = 0;
        if (keep(to, g_scratch + w, (size_t)(n - w), n >= PROMOTE_BYTES) < 0) return fail(c, to, ENOMEM);
        return 0;
      }
      continue;
    }
    if (n == 0) {
      from->eof = 1;
      from->can_read = 0;
      return forward_eof(c, from, to);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      from->can_read = 0;
      if (to->len == 0) drop_buffer(to); /* idle: an idle pair holds no buffer */
      return 0;
    }
    return fail(c, from, errno);
  }
}

static void run(conn_t *c) {
  uint32_t slot = c->slot, gen = c->gen;
  if (pump(c, &c->c, &c->s) < 0) return;
  if (!still_open(slot, gen)) return;
  pump(c, &c->s, &c->c);
}

/* ---- accepting and connecting ----------------------------------------------------- */

static void on_retry(uv_timer_t *t);
static void on_yield_over(uv_timer_t *t);
static void on_poll(uv_poll_t *h, int status, int events);

/* Watches listener `li` for new connections (EPOLLIN) or stops (0). */
static void watch_listener(uint32_t li, uint32_t events) {
  struct epoll_event ev = {0};
  ev.events = events;
  ev.data.u64 = ((uint64_t)li << 2) | TAG_LISTENER;
  epoll_ctl(g_ep, EPOLL_CTL_MOD, g_listen[li], &ev);
}

static void pause_listener(uint32_t li) {
  watch_listener(li, 0);
  g_paused[li] = 1;
  if (!uv_is_active((uv_handle_t *)&g_retry)) uv_timer_start(&g_retry, on_retry, RETRY_ACCEPT_MS, 0);
}

static void on_retry(uv_timer_t *t) {
  (void)t;
  for (uint32_t li = 0; li < g_nlisten; li++) {
    if (!g_paused[li] || g_listen[li] < 0) continue;
    g_paused[li] = 0;
    watch_listener(li, EPOLLIN);
  }
}

/* Stops watching listener `li` for a moment so that a worker holding fewer connections
 * accepts what waits; the listener is level-triggered, so its epoll sees it too. */
static void yield_listener(uint32_t li) {
  watch_listener(li, 0);
  g_yielded[li] = 1;
  if (!uv_is_active((uv_handle_t *)&g_yield_timer)) uv_timer_start(&g_yield_timer, on_yield_over, YIELD_ACCEPT_MS, 0);
}

static void on_yield_over(uv_timer_t *t) {
  (void)t;
  uint32_t beat = load_others_beat();
  g_stall_rests = beat == g_others_beat ? g_stall_rests + 1 : 0;
  g_others_beat = beat;
  for (uint32_t li = 0; li < g_nlisten; li++) {
    if (!g_yielded[li]) continue;
    g_yielded[li] = 0;
    if (g_stall_rests >= STALL_RESTS || g_yield_run[li] >= YIELD_RUN_MAX) {
      g_forced[li] = ACCEPT_BATCH;
      g_yield_run[li] = 0;
    } else {
      g_yield_run[li]++; /* look again: the others are moving and may take them yet */
    }
    if (g_listen[li] < 0 || g_paused[li]) continue;
    watch_listener(li, EPOLLIN);
  }
  /* Now, not at the next wake: a listener with nothing waiting drops its credit (EAGAIN). */
  on_poll(NULL, 0, 0);
}

static void do_accept(uint32_t li) {
  for (int k = 0; k < ACCEPT_BATCH && room() > 3 * EPOLL_BATCH; k++) {
    int lfd = g_listen[li];
    if (lfd < 0 || g_paused[li]) return;
    if (g_forced[li] == 0 && load_should_yield()) {
      yield_listener(li);
      return;
    }
    addr_t peer;
    socklen_t len = sizeof peer;
    int fd = accept4(lfd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        g_forced[li] = 0; /* nothing waits: whoever took them, the balance works */
        g_yield_run[li] = 0;
        g_stall_rests = 0;
        return;
      }
      if (e == EINTR || e == ECONNABORTED) continue;
      /* Out of descriptors or memory: rest the listener a moment rather than spin on it. */
      pause_listener(li);
      emit(EV_ACCEPT_ERROR, li, -e, 0, 0, 0);
      return;
    }
    if (g_forced[li] > 0) g_forced[li]--;
    if (g_kind[li]) {
      stream_accepted(li, fd, &peer);
      continue;
    }
    conn_t *c = new_conn();
    if (c == NULL) {
      close(fd);
      pause_listener(li);
      emit(EV_ACCEPT_ERROR, li, -ENOMEM, 0, 0, 0);
      return;
    }
    c->peer = peer;
    c->c.fd = fd;
    c->counted = 1;
    load_add(1);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {0};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag(c, TAG_CLIENT);
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
      int e = errno;
      release(c, NULL);
      emit(EV_ACCEPT_ERROR, li, -e, 0, 0, 0);
      continue;
    }
    emit(EV_ACCEPT, li, conn_id(c), 0, 0, 0);
  }
}

static void connected_or_not(conn_t *c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) err = ECONNREFUSED;
    forget_server(c);
    emit(EV_CONNECT, conn_id(c), -err, 0, 0, 0);
    return;
  }
  if (!(events & EPOLLOUT)) return;
  c->state = ST_RELAYING;
  c->last = uv_now(g_loop);
  uint32_t slot = c->slot, gen = c->gen;
  emit(EV_CONNECT, conn_id(c), 0, 0, 0, 0);
  /* A full event array is flushed inside emit, and JavaScript may close the pair then. */
  if (!still_open(slot, gen)) return;
  run(c);
}

static void dispatch(const struct epoll_event *ev) {
  uint64_t d = ev->data.u64;
  uint32_t which = (uint32_t)(d & 3), slot = (uint32_t)((d >> 2) & 0x3fffffff), gen = (uint32_t)(d >> 32);
  if (which == TAG_LISTENER) {
    if (slot == WAKE_INDEX) stream_wake();
    else if (slot < g_nlisten) do_accept(slot);
    return;
  }
  if (which == TAG_STREAM) {
    stream_event(slot, gen, ev->events);
    return;
  }
  conn_t *c = slot_get(&g_pairs, slot, gen);
  if (c == NULL) return; /* closed (and maybe reused) earlier in this batch */
  side_t *s = which == TAG_CLIENT ? &c->c : &c->s;
  uint32_t e = ev->events;
  if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->can_read = 1;
  if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->rdhup = 1;
  if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s->can_write = 1;
  if (c->state == ST_WAITING) {
    if (which == TAG_CLIENT && c->want_read && s->can_read) emit(EV_READABLE, conn_id(c), 0, 0, 0, 0);
  } else if (c->state == ST_CONNECTING) {
    if (which == TAG_SERVER) connected_or_not(c, e);
  } else if (c->state == ST_RELAYING) {
    run(c);
  }
}

/*
 * JavaScript runs (flush) only between epoll batches, never in the middle of one: a batch
 * may still hold an event for a socket JavaScript would close or replace. So a batch
 * starts with room for 4 records per event, accepts and the streams' ready list stop
 * while fewer than 3 per event are left (the listener is level-triggered and fires
 * again; the ready list wakes the loop again), a pair's event adds at most 2 records
 * (connected, closed) and a stream's at most 3 (drained, data, end or error).
 */
uint32_t room(void) { return g_events_cap - g_nev; }

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  struct epoll_event evs[EPOLL_BATCH];
  load_beat();
  for (int round = 0; round < 8; round++) {
    if (room() < 4 * EPOLL_BATCH) flush();
    int n = epoll_wait(g_ep, evs, EPOLL_BATCH, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) dispatch(&evs[i]);
    if (n < EPOLL_BATCH) break;
  }
  flush();
}

/* ---- functions for JavaScript ----------------------------------------------------- */

napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

double arg_num(napi_env env, napi_value v) {
  double d = -1;
  if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
  return d;
}

static double *typed_f64(napi_env env, napi_value v, uint32_t *count, napi_ref *ref) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_float64_array) return NULL;
  napi_create_reference(env, v, 1, ref);
  *count = (uint32_t)length;
  return data;
}

/* init(onEvents, events: Float64Array, stats: Float64Array, reads: Uint8Array): 0 or -errno. Once per process. */
static napi_value js_init(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (g_ep >= 0) return num(env, 0);
  bool is_typed = false;
  if (argc < 4 || napi_is_typedarray(env, argv[3], &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, NULL, "init(onEvents, events, stats, reads)");
    return NULL;
  }
  {
    napi_typedarray_type type;
    napi_value ab;
    size_t offset;
    void *data;
    napi_get_typedarray_info(env, argv[3], &type, &g_readbuf_len, &data, &ab, &offset);
    if (type != napi_uint8_array || g_readbuf_len == 0) {
      napi_throw_type_error(env, NULL, "init: reads must be a Uint8Array");
      return NULL;
    }
    g_readbuf = data;
    napi_create_reference(env, argv[3], 1, &g_readbuf_ref);
  }
  uint32_t n = 0, m = 0;
  g_events = typed_f64(env, argv[1], &n, &g_events_ref);
  g_stats = typed_f64(env, argv[2], &m, &g_stats_ref);
  if (g_events == NULL || g_stats == NULL || n < MIN_EVENT_RECORDS * REC || m < STATS_FIELDS) {
    napi_throw_type_error(env, NULL, "init: events and stats must be Float64Arrays");
    return NULL;
  }
  g_events_cap = n / REC;
  napi_create_reference(env, argv[0], 1, &g_cb);
  napi_value name;
  napi_create_string_utf8(env, "FulcrumTcpRelay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &g_actx);
  g_env = env;
  if (napi_get_uv_event_loop(env, &g_loop) != napi_ok) return num(env, -EINVAL);
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (g_ep < 0) return num(env, -errno);
  uv_poll_init(g_loop, &g_poll, g_ep);
  uv_poll_start(&g_poll, UV_READABLE, on_poll);
  int serr = stream_init();
  if (serr < 0) return num(env, serr);
  uv_timer_init(g_loop, &g_retry);
  uv_unref((uv_handle_t *)&g_retry);
  uv_timer_init(g_loop, &g_yield_timer);
  uv_unref((uv_handle_t *)&g_yield_timer);
  g_referenced = 1;
  update_ref();
  return num(env, 0);
}

/*
 * listen(fd, streams): takes a duplicate of the listening socket `fd`; the listener's
 * index or -errno. Its connections are relayed pairs, or byte streams when `streams`.
 */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = (int)arg_num(env, argv[0]);
  bool streams = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &streams);
  if (g_ep < 0 || fd < 0) return num(env, -EINVAL);
  /* A closed listener's index is free again: its descriptor left the epoll set with it. */
  uint32_t li = 0;
  while (li < g_nlisten && g_listen[li] >= 0) li++;
  if (li == MAX_LISTENERS) return num(env, -EMFILE);
  int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (mine < 0) return num(env, -errno);
  int fl = fcntl(mine, F_GETFL);
  if (fl >= 0) fcntl(mine, F_SETFL, fl | O_NONBLOCK);
  struct epoll_event ev = {0};
  ev.events = EPOLLIN;
  ev.data.u64 = ((uint64_t)li << 2) | TAG_LISTENER;
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, mine, &ev) < 0) {
    int e = errno;
    close(mine);
    return num(env, -e);
  }
  g_listen[li] = mine;
  g_paused[li] = 0;
  g_yielded[li] = 0;
  g_forced[li] = 0;
  g_yield_run[li] = 0;
  g_kind[li] = streams ? 1 : 0;
  tls_listener_reset(li);
  if (li == g_nlisten) g_nlisten++;
  g_active_listeners++;
  load_listening(1);
  update_ref();
  return num(env, li);
}

/* unlisten(index): stops accepting (closes our duplicate). */
static napi_value js_unlisten(napi_env env, napi_callback_info info) {
  ARGS(1);
  double li = arg_num(env, argv[0]);
  if (li < 0 || li >= g_nlisten || g_listen[(uint32_t)li] < 0) return num(env, -EINVAL);
  /*
   * Explicitly: closing our duplicate does not take it out of the epoll set while the
   * socket stays open elsewhere (the primary, other workers), and a level-triggered
   * registration left behind would report every waiting connection forever.
   */
  epoll_ctl(g_ep, EPOLL_CTL_DEL, g_listen[(uint32_t)li], NULL);
  close(g_listen[(uint32_t)li]);
  g_listen[(uint32_t)li] = -1;
  tls_listener_reset((uint32_t)li);
  g_active_listeners--;
  load_listening(g_active_listeners > 0);
  update_ref();
  return num(env, 0);
}

/*
 * connect(id, address, port, first: Uint8Array | null, counted): 0 (the result comes as an
 * event) or -errno. `first` goes to the server before the client's bytes; `counted` of
 * them were read from the client (a prelude) and count as bytes in.
 */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(5);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL || c->state != ST_WAITING) return num(env, -EBADF);
  addr_t to;
  int fd = connect_arg(env, argv[1], argv[2], &to);
  if (fd < 0) return num(env, fd);
  struct epoll_event ev = {0};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag(c, TAG_SERVER);
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    close(fd);
    return num(env, -e);
  }
  memset(&c->s, 0, sizeof c->s);
  c->s.fd = fd;
  bool is_typed = false;
  napi_is_typedarray(env, argv[3], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(env, argv[3], &type, &length, &data, &ab, &offset);
    if (length > 0 && keep(&c->s, data, length, 0) < 0) {
      forget_server(c);
      return num(env, -ENOMEM);
    }
  }
  /* Nothing was relayed yet: the client's bytes so far are the prelude's. */
  double counted = arg_num(env, argv[4]);
  c->bytes_in = counted > 0 ? counted : 0;
  c->state = ST_CONNECTING;
  c->want_read = 0;
  return num(env, 0);
}

/* want(id, on): EV_READABLE when the waiting client has bytes (JavaScript reads a prelude). */
static napi_value js_want(napi_env env, napi_callback_info info) {
  ARGS(2);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL || c->state != ST_WAITING) return num(env, -EBADF);
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  c->want_read = on;
  return num(env, 0);
}

/*
 * read(id): reads the waiting client into the reads array: the byte count, 0 at EOF (the
 * relay then passes the FIN on once it starts), -EAGAIN when nothing is there (an
 * EV_READABLE follows), or -errno.
 */
static napi_value js_read(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL || c->state != ST_WAITING || c->c.fd < 0) return num(env, -EBADF);
  if (c->c.eof) return num(env, 0);
  for (;;) {
    ssize_t n = recv(c->c.fd, g_readbuf, g_readbuf_len, 0);
    if (n > 0) return num(env, (double)n);
    if (n == 0) {
      c->c.eof = 1;
      c->c.can_read = 0;
      return num(env, 0);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) c->c.can_read = 0;
    return num(env, -errno);
  }
}

/* drop(id): abandons a connect in progress (a connect timeout); the pair waits for the next. */
static napi_value js_drop(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL || c->state != ST_CONNECTING) return num(env, -EBADF);
  forget_server(c);
  return num(env, 0);
}

static void fill_stats(conn_t *c) {
  g_stats[0] = c->bytes_in;
  g_stats[1] = c->bytes_out;
  g_stats[2] = c->state == ST_RELAYING ? (double)(uv_now(g_loop) - c->last) : 0;
}

/* stats(id): writes [bytesIn, bytesOut, idleMs] into the stats array; 0 or -EBADF. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL) return num(env, -EBADF);
  fill_stats(c);
  return num(env, 0);
}

/* close(id): closes both sockets gracefully (FIN) and frees the pair, stats filled first. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL) return num(env, -EBADF);
  fill_stats(c);
  release(c, NULL);
  return num(env, 0);
}

napi_value address_of(napi_env env, const struct sockaddr *sa) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  napi_value arr, s;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, arr, 0, s);
  napi_set_element(env, arr, 1, num(env, port));
  return arr;
}

/* peer(id): [address, port] of the client (from accept, no syscall), or undefined. */
static napi_value js_peer(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  if (c == NULL) return NULL;
  return address_of(env, &c->peer.sa);
}

/* local(id): [address, port] the client connected to, or undefined. */
static napi_value js_local(napi_env env, napi_callback_info info) {
  ARGS(1);
  conn_t *c = lookup(arg_num(env, argv[0]));
  return c == NULL ? NULL : local_address_of(env, c->c.fd);
}

/* buffers(): relay buffers holding bytes now (kept-for-reuse ones not counted). */
static napi_value js_buffers(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, g_bulk - g_nfree_bulk + g_exact);
}

/* The numbers JavaScript shares with this addon (src/io/addon.ts checks them at load). */
static napi_value constants_object(napi_env env) {
  static const struct {
    const char *name;
    double value;
  } table[] = {
      {"RECORD", REC},
      {"EV_ACCEPT", EV_ACCEPT},
      {"EV_CONNECT", EV_CONNECT},
      {"EV_CLOSED", EV_CLOSED},
      {"EV_ACCEPT_ERROR", EV_ACCEPT_ERROR},
      {"EV_READABLE", EV_READABLE},
      {"EV_S_ACCEPT", EV_S_ACCEPT},
      {"EV_S_CONNECT", EV_S_CONNECT},
      {"EV_S_DATA", EV_S_DATA},
      {"EV_S_EOF", EV_S_EOF},
      {"EV_S_DRAIN", EV_S_DRAIN},
      {"EV_S_ERROR", EV_S_ERROR},
      {"EV_S_SECURE", EV_S_SECURE},
      {"END_DONE", END_DONE},
      {"END_CLIENT_RESET", END_CLIENT_RESET},
      {"END_SERVER_RESET", END_SERVER_RESET},
      {"ALPN_NONE", ALPN_CHOSE_NONE},
      {"ALPN_HTTP1", ALPN_CHOSE_HTTP1},
      {"ALPN_H2", ALPN_CHOSE_H2},
      {"ARENA_BYTES", ARENA_BYTES},
      {"STREAM_SLOTS", MAX_SLOTS},
      {"MIN_EVENT_RECORDS", MIN_EVENT_RECORDS},
      {"STATS_FIELDS", STATS_FIELDS},
  };
  napi_value out;
  napi_create_object(env, &out);
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) napi_set_named_property(env, out, table[i].name, num(env, table[i].value));
  udp_constants(env, out);
  return out;
}

static napi_value init_module(napi_env env, napi_value exports) {
  const export_t fns[] = {
      {"init", js_init},     {"listen", js_listen}, {"unlisten", js_unlisten}, {"connect", js_connect},
      {"drop", js_drop},     {"stats", js_stats},   {"close", js_close},       {"peer", js_peer},
      {"local", js_local},   {"buffers", js_buffers}, {"want", js_want},         {"read", js_read},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
  stream_exports(env, exports);
  tls_exports(env, exports);
  notify_exports(env, exports);
  udp_exports(env, exports);
  privileges_exports(env, exports);
  limits_exports(env, exports);
  napi_value rec;
  napi_create_uint32(env, REC, &rec);
  napi_set_named_property(env, exports, "RECORD", rec);
  napi_set_named_property(env, exports, "constants", constants_object(env));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
