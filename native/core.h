/*
 * What relay.c (the epoll loop, the event records, listeners) shares with stream.c (byte
 * streams that JavaScript reads and writes, for the HTTP engine).
 */
#ifndef FULCRUM_CORE_H
#define FULCRUM_CORE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* An IPv4 or IPv6 socket address. */
typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} addr_t;

/* Epoll tags: the low two bits say what a registration is. */
enum { TAG_CLIENT = 0, TAG_SERVER = 1, TAG_LISTENER = 2, TAG_STREAM = 3 };

/* The listener index of the streams' wake-up eventfd (TAG_LISTENER). */
#define WAKE_INDEX 0x3fffffffu

/* Listening sockets the addon can hold. */
#define MAX_LISTENERS 1024

/* Events one epoll batch may take; see on_poll in relay.c for the record reserve. */
#define EPOLL_BATCH 256

/* Event records: [type, id, a, b, c, d]; pairs (relay.c), then streams (stream.c). */
enum { EV_ACCEPT = 1, EV_CONNECT = 2, EV_CLOSED = 3, EV_ACCEPT_ERROR = 4, EV_READABLE = 5 };
enum { EV_S_ACCEPT = 6, EV_S_CONNECT = 7, EV_S_DATA = 8, EV_S_EOF = 9, EV_S_DRAIN = 10, EV_S_ERROR = 11, EV_S_SECURE = 12 };
/* The events array JavaScript passes to init() holds at least this many records. */
#define MIN_EVENT_RECORDS (8 * EPOLL_BATCH)
/* Where a batch's stream reads land (the arena JavaScript passes to streamArena). */
#define ARENA_BYTES (1024 * 1024)
/* What tls_alpn returns (EV_S_SECURE b). */
enum { ALPN_CHOSE_NONE = 0, ALPN_CHOSE_HTTP1 = 1, ALPN_CHOSE_H2 = 2 };
/*
 * Every number above (and the record size, pair end reasons, slot bits) goes to
 * JavaScript as the module's `constants` object, which src/io/addon.ts checks at load.
 */

/* Tables of objects by slot (slots.c); an object's id is gen * 2^SLOT_BITS + slot. */
#define SLOT_BITS 22
#define MAX_SLOTS (1u << SLOT_BITS)
typedef struct {
  void **items;
  uint32_t *gens, *free;
  uint32_t cap, nfree, used, live;
  /*
   * With `hold` set, a removed slot waits in `held` until slot_release_held: streams use
   * this so that no slot changes hands while JavaScript may still read an event naming
   * its last owner (see stream_flushed).
   */
  uint32_t *held;
  uint32_t nheld;
  uint8_t hold;
} slots_t;
/* Puts `item` in a free slot under a new generation (t->gens[slot]): 0, or -1 when full or out of memory. */
int slot_add(slots_t *t, void *item, uint32_t *slot);
void slot_remove(slots_t *t, uint32_t slot);
/* Makes the held slots free for slot_add. */
void slot_release_held(slots_t *t);
/* The object in `slot` while the slot is of generation `gen`, else NULL. */
void *slot_get(const slots_t *t, uint32_t slot, uint32_t gen);
/* The object an id names, or NULL. */
void *slot_by_id(const slots_t *t, double id);
static inline double slot_id(uint32_t slot, uint32_t gen) { return (double)gen * (double)MAX_SLOTS + slot; }
/* Starts a non-blocking connect (TCP_NODELAY) to the IP address and port in the two arguments: its fd, or -errno. */
int connect_arg(napi_env env, napi_value host, napi_value port, addr_t *to);
/* [address, port] of the local end of `fd`, or NULL (undefined). */
napi_value local_address_of(napi_env env, int fd);
/* Functions the module exports. */
typedef struct {
  const char *name;
  napi_callback fn;
} export_t;
void export_functions(napi_env env, napi_value exports, const export_t *fns, size_t n);

#define ARGS(n)                                                   \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

extern int g_ep;
extern uv_loop_t *g_loop;

void emit(int type, double id, double a, double b, double c, double d);
uint32_t room(void);
void update_ref(void);
napi_value num(napi_env env, double v);
double arg_num(napi_env env, napi_value v);
napi_value address_of(napi_env env, const struct sockaddr *sa);

/* stream.c */
extern slots_t g_streams;
int stream_init(void);
void stream_accepted(uint32_t li, int fd, const addr_t *peer);
/* The accept balance between workers (limits.c): this process accepted (+1) or closed (-1) a connection. */
void load_add(int delta);
/* Whether another worker holds fewer connections, so this one should let it accept. */
int load_should_yield(void);
/* This process has listeners open (on) or none (off: a draining worker leaves the balance). */
void load_listening(int on);
/* One wake of the event loop, for the others to tell a stalled worker from a busy one. */
void load_beat(void);
/* The sum of the other listening workers' wake counts. */
uint32_t load_others_beat(void);
void stream_event(uint32_t slot, uint32_t gen, uint32_t events);
void stream_wake(void);
/* A batch of events went to JavaScript; `outermost`: not a flush nested inside another. */
void stream_flushed(int outermost);
void stream_exports(napi_env env, napi_value exports);

/* udp.c: batched UDP sockets for the DNS server */
void udp_exports(napi_env env, napi_value exports);
void udp_constants(napi_env env, napi_value out);

/* notify.c: sd_notify */
void notify_exports(napi_env env, napi_value exports);

/* privileges.c: runtime.user/group with capabilities kept */
void privileges_exports(napi_env env, napi_value exports);

/* limits.c: rate and connection limits shared by every worker */
void limits_exports(napi_env env, napi_value exports);

/* tls.c: TLS on accepted streams, with Node's OpenSSL */
typedef struct ssl_st SSL;
enum { TLS_DONE = 1, TLS_WANT_READ = 2, TLS_WANT_WRITE = 3, TLS_FAILED = -1 };
int tls_init(void);
/*
 * A new server-side session on `fd` when listener `li` terminates TLS (*prelude: a PROXY
 * header comes first); NULL otherwise, or with *err set (-ENOMEM).
 */
SSL *tls_accepting(uint32_t li, int fd, int *prelude, int *err);
int tls_handshake(SSL *ssl);
/* Why the handshake failed, to free() (sys_errno: errno right after it). */
char *tls_failure(SSL *ssl, int sys_errno);
/* The protocol ALPN chose: 0 none, 1 http/1.1, 2 h2. */
int tls_alpn(SSL *ssl);
/* As recv(), up to `n` decrypted bytes; *more: call again, something (bytes, the end, an error) is waiting. */
ssize_t tls_recv(SSL *ssl, char *buf, size_t n, int *more);
/* As send(), all of it or -1 (EAGAIN: nothing taken from our side; call again with the same bytes first). */
ssize_t tls_send(SSL *ssl, const void *buf, size_t n);
int tls_pending(SSL *ssl);
void tls_close_notify(SSL *ssl);
void tls_free(SSL *ssl);
void tls_listener_reset(uint32_t li);
napi_value tls_describe(napi_env env, SSL *ssl, const char *why);
void tls_exports(napi_env env, napi_value exports);

#endif
