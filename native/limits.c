/*
 * Limits shared by every worker: request rates and new-connection rates (GCRA, one
 * 64-bit "theoretical arrival time" per key, updated by compare-and-swap) and
 * concurrent connections per key (one counter per worker column, so a dead worker's
 * connections can be cleared). The table lives in one memfd the primary creates and
 * every worker maps (the fd is inherited), so counts are the balancer's, not a worker's,
 * and outlive workers and reloads. Nothing here takes a lock: a process killed at any
 * instruction leaves the table usable.
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIM_MAGIC 0x46756c63724c696dULL /* "FulcrLim" */
#define RATE_SLOTS (1u << 16)
#define CONN_SLOTS (1u << 14)
#define COLUMNS 64
#define PROBES 16

typedef struct {
  _Atomic uint64_t key;
  _Atomic int64_t tat; /* ns on CLOCK_MONOTONIC */
} rate_slot_t;

typedef struct {
  _Atomic uint64_t key;
  _Atomic uint16_t n[COLUMNS];
} conn_slot_t;

typedef struct {
  uint64_t magic;
  uint32_t rate_slots, conn_slots, columns, pad;
} lim_header_t;

/* One cache line per worker column: the connections its listeners hold now, for the
 * accept balance (load_should_yield). */
typedef struct {
  _Atomic uint32_t open;
  _Atomic uint32_t live; /* 1 while a worker has the column and listens */
  _Atomic uint32_t beat; /* counts the worker's wakes: still moving or stalled */
  uint8_t pad[52];
} load_slot_t;

#define RATE_OFF 64
#define CONN_OFF (RATE_OFF + (size_t)RATE_SLOTS * sizeof(rate_slot_t))
#define LOAD_OFF ((CONN_OFF + (size_t)CONN_SLOTS * sizeof(conn_slot_t) + 63) & ~(size_t)63)
#define TABLE_BYTES (LOAD_OFF + (size_t)COLUMNS * sizeof(load_slot_t))
/* A worker holding this many more connections than the least loaded one lets it accept. */
#define LOAD_SLACK 1

static uint8_t *g_table = NULL;

static rate_slot_t *rate_slots(void) { return (rate_slot_t *)(g_table + RATE_OFF); }
static conn_slot_t *conn_slots(void) { return (conn_slot_t *)(g_table + CONN_OFF); }
static load_slot_t *load_slots(void) { return (load_slot_t *)(g_table + LOAD_OFF); }

/* This worker's column once it joined the accept balance (-1: not a worker of a table). */
static int g_column = -1;
/* Connections this process accepted and still holds. */
static uint32_t g_open;
/* Whether this process has a listener open (a draining worker does not: it leaves the balance). */
static int g_listening;
static uint32_t g_beat;

static void publish_live(void) {
  if (g_column >= 0) atomic_store(&load_slots()[g_column].live, (uint32_t)g_listening);
}

void load_listening(int on) {
  g_listening = on;
  publish_live();
}

void load_beat(void) {
  if (g_column >= 0) atomic_store_explicit(&load_slots()[g_column].beat, ++g_beat, memory_order_relaxed);
}

uint32_t load_others_beat(void) {
  if (g_column < 0) return 0;
  load_slot_t *l = load_slots();
  uint32_t sum = 0;
  for (int c = 0; c < COLUMNS; c++)
    if (c != g_column && atomic_load_explicit(&l[c].live, memory_order_relaxed)) sum += atomic_load_explicit(&l[c].beat, memory_order_relaxed);
  return sum;
}

void load_add(int delta) {
  g_open += (uint32_t)delta;
  if (g_column >= 0) atomic_store_explicit(&load_slots()[g_column].open, g_open, memory_order_relaxed);
}

int load_should_yield(void) {
  if (g_column < 0) return 0;
  load_slot_t *l = load_slots();
  uint32_t least = UINT32_MAX;
  for (int c = 0; c < COLUMNS; c++) {
    if (c == g_column || !atomic_load_explicit(&l[c].live, memory_order_relaxed)) continue;
    uint32_t n = atomic_load_explicit(&l[c].open, memory_order_relaxed);
    if (n < least) least = n;
  }
  return least != UINT32_MAX && g_open > least + LOAD_SLACK;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int map_fd(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if ((size_t)st.st_size != TABLE_BYTES) return -EINVAL;
  void *p = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  lim_header_t *h = p;
  if (h->magic != LIM_MAGIC || h->rate_slots != RATE_SLOTS || h->conn_slots != CONN_SLOTS || h->columns != COLUMNS) {
    munmap(p, TABLE_BYTES);
    return -EINVAL;
  }
  if (g_table != NULL) munmap(g_table, TABLE_BYTES);
  g_table = p;
  return 0;
}

/* limitsCreate(): a new table; its fd (inherited by workers), or -errno. */
static napi_value js_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = memfd_create("fulcrum-limits", MFD_CLOEXEC);
  if (fd < 0) return num(env, -errno);
  if (ftruncate(fd, (off_t)TABLE_BYTES) < 0) {
    int e = errno;
    close(fd);
    return num(env, -e);
  }
  void *p = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    return num(env, -e);
  }
  lim_header_t *h = p;
  h->rate_slots = RATE_SLOTS;
  h->conn_slots = CONN_SLOTS;
  h->columns = COLUMNS;
  h->magic = LIM_MAGIC;
  munmap(p, TABLE_BYTES);
  int r = map_fd(fd);
  if (r < 0) {
    close(fd);
    return num(env, r);
  }
  return num(env, fd);
}

/* limitsAttach(fd): maps the table a primary created; 0 or -errno. */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  ARGS(1);
  return num(env, map_fd((int)arg_num(env, argv[0])));
}

/* The key's hash (FNV-1a, 64 bits) over the limit's id and the key's UTF-8 bytes; never 0. */
static uint64_t key_hash(napi_env env, napi_value id, napi_value key) {
  uint32_t lid = (uint32_t)arg_num(env, id);
  char buf[512];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, key, buf, sizeof buf, &len) != napi_ok) len = 0;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 4; i++) {
    h ^= (lid >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)buf[i];
    h *= 0x100000001b3ULL;
  }
  return h == 0 ? 1 : h;
}

/* Slot i of a table of `size`-byte slots, each starting with its key. */
#define SLOT(base, size, i) ((_Atomic uint64_t *)((uint8_t *)(base) + (size_t)(i) * (size)))

/* The slot holding key `h` among its PROBES, or an empty one claimed for it; NULL: neither. */
static _Atomic uint64_t *find_or_claim(void *base, size_t size, uint32_t slots, uint64_t h, int claim) {
  for (uint32_t i = 0; i < PROBES; i++) {
    _Atomic uint64_t *key = SLOT(base, size, (h + i) & (slots - 1));
    uint64_t k = atomic_load(key);
    if (k == h) return key;
    if (k == 0 && claim) {
      uint64_t zero = 0;
      if (atomic_compare_exchange_strong(key, &zero, h) || zero == h) return key;
    }
  }
  return NULL;
}

/* The rate slot of `h`: found, claimed empty, or taken from a key that is idle (its bucket full). NULL: none free. */
static rate_slot_t *rate_slot(uint64_t h, int64_t now) {
  rate_slot_t *t = rate_slots();
  rate_slot_t *s = (rate_slot_t *)find_or_claim(t, sizeof *t, RATE_SLOTS, h, 1);
  if (s != NULL) return s;
  for (uint32_t i = 0; i < PROBES; i++) {
    s = &t[(h + i) & (RATE_SLOTS - 1)];
    uint64_t k = atomic_load(&s->key);
    if (atomic_load(&s->tat) <= now && atomic_compare_exchange_strong(&s->key, &k, h)) {
      atomic_store(&s->tat, 0);
      return s;
    }
  }
  return NULL;
}

/*
 * limitsTake(id, key, intervalNs, toleranceNs): one event against the key's rate
 * (GCRA: one every intervalNs, toleranceNs of burst). 0: allowed; else the ms until it
 * would be (the event is not counted).
 */
static napi_value js_take(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (g_table == NULL) return num(env, 0);
  uint64_t h = key_hash(env, argv[0], argv[1]);
  int64_t interval = (int64_t)arg_num(env, argv[2]);
  int64_t tolerance = (int64_t)arg_num(env, argv[3]);
  int64_t now = mono_ns();
  rate_slot_t *s = rate_slot(h, now);
  if (s == NULL) return num(env, 0); /* the table is full of busy keys: fail open */
  int64_t tat = atomic_load(&s->tat);
  for (;;) {
    int64_t base = tat > now ? tat : now;
    if (base - now > tolerance) return num(env, (double)(base - now - tolerance) / 1e6);
    if (atomic_compare_exchange_weak(&s->tat, &tat, base + interval)) return num(env, 0);
  }
}

static uint32_t conn_sum(conn_slot_t *s) {
  uint32_t sum = 0;
  for (int c = 0; c < COLUMNS; c++) sum += atomic_load_explicit(&s->n[c], memory_order_relaxed);
  return sum;
}

/* The connection slot of `h`; `claim`: take an empty or unused (all zero) one if it has none. */
static conn_slot_t *conn_slot(uint64_t h, int claim) {
  conn_slot_t *t = conn_slots();
  conn_slot_t *s = (conn_slot_t *)find_or_claim(t, sizeof *t, CONN_SLOTS, h, claim);
  if (s != NULL || !claim) return s;
  for (uint32_t i = 0; i < PROBES; i++) {
    s = &t[(h + i) & (CONN_SLOTS - 1)];
    uint64_t k = atomic_load(&s->key);
    if (conn_sum(s) == 0 && atomic_compare_exchange_strong(&s->key, &k, h)) return s;
  }
  return NULL;
}

/* limitsAcquire(id, key, max, column): 1 when the key holds fewer than max (now one more), else 0. */
static napi_value js_acquire(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (g_table == NULL) return num(env, 1);
  uint64_t h = key_hash(env, argv[0], argv[1]);
  uint32_t max = (uint32_t)arg_num(env, argv[2]);
  uint32_t col = (uint32_t)arg_num(env, argv[3]) % COLUMNS;
  conn_slot_t *s = conn_slot(h, 1);
  if (s == NULL) return num(env, 1);
  if (conn_sum(s) >= max) return num(env, 0);
  uint16_t prev = atomic_fetch_add(&s->n[col], 1);
  if (prev == UINT16_MAX || conn_sum(s) > max) { /* another worker took the last one at the same time */
    atomic_fetch_sub(&s->n[col], 1);
    return num(env, 0);
  }
  return num(env, 1);
}

/* limitsRelease(id, key, column): one connection of the key's has closed. */
static napi_value js_release(napi_env env, napi_callback_info info) {
  ARGS(3);
  if (g_table == NULL) return NULL;
  uint64_t h = key_hash(env, argv[0], argv[1]);
  uint32_t col = (uint32_t)arg_num(env, argv[2]) % COLUMNS;
  conn_slot_t *s = conn_slot(h, 0);
  if (s == NULL) return NULL;
  uint16_t n = atomic_load(&s->n[col]);
  while (n > 0 && !atomic_compare_exchange_weak(&s->n[col], &n, (uint16_t)(n - 1))) {
  }
  return NULL;
}

/* limitsCount(id, key): the key's connections now, over every worker. */
static napi_value js_count(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (g_table == NULL) return num(env, 0);
  conn_slot_t *s = conn_slot(key_hash(env, argv[0], argv[1]), 0);
  return num(env, s == NULL ? 0 : conn_sum(s));
}

/* limitsClearColumn(column): a worker has exited; its connections are gone. */
static napi_value js_clear_column(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (g_table == NULL) return NULL;
  uint32_t col = (uint32_t)arg_num(env, argv[0]) % COLUMNS;
  conn_slot_t *t = conn_slots();
  for (uint32_t i = 0; i < CONN_SLOTS; i++) atomic_store(&t[i].n[col], 0);
  atomic_store(&load_slots()[col].live, 0);
  atomic_store(&load_slots()[col].open, 0);
  return NULL;
}

/* limitsJoin(column): this worker takes part in the accept balance under `column`. */
static napi_value js_join(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (g_table == NULL) return NULL;
  g_column = (int)((uint32_t)arg_num(env, argv[0]) % COLUMNS);
  atomic_store(&load_slots()[g_column].open, g_open);
  publish_live();
  return NULL;
}

void limits_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {
      {"limitsCreate", js_create},   {"limitsAttach", js_attach}, {"limitsTake", js_take},
      {"limitsAcquire", js_acquire}, {"limitsRelease", js_release}, {"limitsCount", js_count},
      {"limitsClearColumn", js_clear_column}, {"limitsJoin", js_join},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
  napi_value cols;
  napi_create_uint32(env, COLUMNS, &cols);
  napi_set_named_property(env, exports, "LIMIT_COLUMNS", cols);
}
