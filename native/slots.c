/*
 * What relay.c's pairs and stream.c's streams both need: a table of objects by slot,
 * where each use of a slot gets a new generation so that a stale id (and a stale epoll
 * tag) never reaches the object now in the slot; the start of a connect to an IP
 * address; small N-API helpers.
 */
#define _GNU_SOURCE
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int slot_add(slots_t *t, void *item, uint32_t *slot_out) {
  uint32_t slot;
  if (t->nfree > 0) {
    slot = t->free[--t->nfree];
  } else {
    if (t->used == MAX_SLOTS) return -1;
    if (t->used == t->cap) {
      uint32_t cap = t->cap == 0 ? 1024 : t->cap * 2;
      if (cap > MAX_SLOTS) cap = MAX_SLOTS;
      void **items = realloc(t->items, cap * sizeof *items);
      if (items == NULL) return -1;
      t->items = items;
      uint32_t *gens = realloc(t->gens, cap * sizeof *gens);
      if (gens == NULL) return -1;
      t->gens = gens;
      uint32_t *fr = realloc(t->free, cap * sizeof *fr);
      if (fr == NULL) return -1;
      t->free = fr;
      uint32_t *held = realloc(t->held, cap * sizeof *held);
      if (held == NULL) return -1;
      t->held = held;
      for (uint32_t i = t->cap; i < cap; i++) t->gens[i] = 0;
      t->cap = cap;
    }
    slot = t->used++;
  }
  /* Generations stay below 2^31 so that ids stay exact doubles below 2^53. */
  t->gens[slot] = (t->gens[slot] + 1) & 0x7fffffff;
  t->items[slot] = item;
  t->live++;
  *slot_out = slot;
  return 0;
}

void slot_remove(slots_t *t, uint32_t slot) {
  t->items[slot] = NULL;
  if (t->hold) t->held[t->nheld++] = slot;
  else t->free[t->nfree++] = slot;
  t->live--;
}

void slot_release_held(slots_t *t) {
  for (uint32_t i = 0; i < t->nheld; i++) t->free[t->nfree++] = t->held[i];
  t->nheld = 0;
}

void *slot_get(const slots_t *t, uint32_t slot, uint32_t gen) {
  if (slot >= t->used || t->gens[slot] != gen) return NULL;
  return t->items[slot];
}

void *slot_by_id(const slots_t *t, double id) {
  if (!(id >= 0)) return NULL;
  uint64_t v = (uint64_t)id;
  return slot_get(t, (uint32_t)(v & (MAX_SLOTS - 1)), (uint32_t)(v >> SLOT_BITS));
}

int connect_arg(napi_env env, napi_value host_arg, napi_value port_arg, addr_t *to) {
  char host[64];
  size_t hl = 0;
  if (napi_get_value_string_utf8(env, host_arg, host, sizeof host, &hl) != napi_ok) return -EINVAL;
  int port = (int)arg_num(env, port_arg);
  memset(to, 0, sizeof *to);
  socklen_t tl;
  if (inet_pton(AF_INET, host, &to->v4.sin_addr) == 1) {
    to->v4.sin_family = AF_INET;
    to->v4.sin_port = htons((uint16_t)port);
    tl = sizeof to->v4;
  } else if (inet_pton(AF_INET6, host, &to->v6.sin6_addr) == 1) {
    to->v6.sin6_family = AF_INET6;
    to->v6.sin6_port = htons((uint16_t)port);
    tl = sizeof to->v6;
  } else {
    return -EINVAL;
  }
  int fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, &to->sa, tl) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

napi_value local_address_of(napi_env env, int fd) {
  addr_t a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  if (fd < 0 || getsockname(fd, &a.sa, &len) < 0) return NULL;
  return address_of(env, &a.sa);
}

void export_functions(napi_env env, napi_value exports, const export_t *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
}
