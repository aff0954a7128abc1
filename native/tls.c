/*
 * TLS termination for the byte streams (stream.c), with the OpenSSL that Node itself
 * is linked with (its headers come with Node's, its symbols from the node binary).
 *
 * Why: through Node's tls module, a short HTTPS connection (one request) entered
 * JavaScript for the handshake, for each session-ticket key, for every decrypted read
 * and for every write, and cost twice HAProxy's CPU per connection (bench/https.ts).
 * Here the handshake, the tickets and the records are done in C on the stream's own
 * socket, and JavaScript sees the stream as a plain one once it is secure.
 *
 * Contexts: one SSL_CTX per certificate (built from the PEM text JavaScript has already
 * checked), with the listener's versions, ciphers, ALPN and ticket keys; plus one
 * without a certificate, which fails every handshake (`unknown_sni: reject`).
 * Servers: a listener's choice of context by SNI (exact name, then a `*.` wildcard
 * covering one label, then the default or a refusal), replaced whole on a certificate
 * reload; handshakes in progress keep the one they started with.
 *
 * Tickets are sealed as Node's `ticketKeys` seals them (48 bytes: name, HMAC-SHA256 key,
 * AES-128-CBC key), so a ticket from a Node context opens here and the other way round,
 * and every accepted ticket is renewed, as in src/tls/ticket-renewal.ts.
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define TICKET_KEY_BYTES 48
/*
 * TLS 1.3 tickets sent after each handshake (OpenSSL's default is 2). Each costs the
 * server a session serialised, sealed and sent in its own record and system call (about
 * a tenth of a full handshake's CPU for two, bench/https.ts), and the client one session
 * parsed and kept. One is what a client needs to come back: a resumed connection gets a
 * fresh one, and browsers use each ticket once. Go's crypto/tls also sends one.
 */
#define TLS13_TICKETS 1

typedef struct {
  unsigned char name[16], hmac[16], aes[16];
} ticket_keys_t;

typedef struct {
  char *name; /* lower-case; for a wildcard, the part after "*." */
  int wild;
  SSL_CTX *ctx;
} sni_entry_t;

/* A listener's contexts. Held by the listener (until replaced) and by each SSL in its handshake. */
typedef struct {
  int refs;
  SSL_CTX *initial; /* new handshakes start here: the default certificate, or the refusing context */
  SSL_CTX *fallback; /* a name no entry covers: this one, or NULL to refuse */
  sni_entry_t *entries;
  uint32_t n;
  /* A PROXY header comes before each ClientHello (JavaScript reads it first). */
  int prelude;
} tls_server_t;

static slots_t g_ctxs; /* SSL_CTX * by id, held by JavaScript */
static tls_server_t *g_listener[MAX_LISTENERS];
static int g_keys_index = -1, g_server_index = -1;

static const unsigned char ALPN_H2[] = "\x02h2\x08http/1.1";
static const unsigned char ALPN_H1[] = "\x08http/1.1";

/* ---- servers ---------------------------------------------------------------------- */

static void server_clear(tls_server_t *srv) {
  for (uint32_t i = 0; i < srv->n; i++) {
    free(srv->entries[i].name);
    SSL_CTX_free(srv->entries[i].ctx);
  }
  free(srv->entries);
  srv->entries = NULL;
  srv->n = 0;
  SSL_CTX_free(srv->initial);
  SSL_CTX_free(srv->fallback);
  srv->initial = srv->fallback = NULL;
}

static void server_unref(tls_server_t *srv) {
  if (--srv->refs > 0) return;
  server_clear(srv);
  free(srv);
}

/* The SSL's server goes with it. */
static void free_server_data(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  if (ptr != NULL) server_unref(ptr);
}

static void free_keys(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  if (ptr != NULL) {
    OPENSSL_cleanse(ptr, sizeof(ticket_keys_t));
    free(ptr);
  }
}

static SSL_CTX *server_lookup(const tls_server_t *srv, const char *servername) {
  char name[256];
  size_t len = servername == NULL ? 0 : strlen(servername);
  if (len == 0 || len >= sizeof name) return srv->fallback;
  for (size_t i = 0; i < len; i++) name[i] = (char)(servername[i] >= 'A' && servername[i] <= 'Z' ? servername[i] + 32 : servername[i]);
  if (name[len - 1] == '.') len--;
  name[len] = 0;
  for (uint32_t i = 0; i < srv->n; i++)
    if (!srv->entries[i].wild && strcmp(srv->entries[i].name, name) == 0) return srv->entries[i].ctx;
  const char *dot = strchr(name, '.');
  if (dot != NULL && dot > name) {
    for (uint32_t i = 0; i < srv->n; i++)
      if (srv->entries[i].wild && strcmp(srv->entries[i].name, dot + 1) == 0) return srv->entries[i].ctx;
  }
  return srv->fallback;
}

/* SNI: switch to the certificate for the name, or refuse with handshake_failure. */
static int on_servername(SSL *ssl, int *alert, void *arg) {
  tls_server_t *srv = SSL_get_ex_data(ssl, g_server_index);
  if (srv == NULL) return SSL_TLSEXT_ERR_OK;
  SSL_CTX *ctx = server_lookup(srv, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  if (ctx == NULL) {
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

/* ALPN: ours in our order of preference; a client offering none of them is refused, as Node's server does. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen, void *arg) {
  const unsigned char *ours = arg;
  unsigned int ourlen = ours == ALPN_H2 ? sizeof ALPN_H2 - 1 : sizeof ALPN_H1 - 1;
  unsigned char *chosen;
  if (SSL_select_next_proto(&chosen, outlen, ours, ourlen, in, inlen) != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

/* Session tickets sealed and opened with the context's keys; an opened one is renewed. */
static int on_ticket(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int seal) {
  const ticket_keys_t *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_keys_index);
  if (k == NULL) return seal ? -1 : 0;
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac);
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0);
  params[2] = OSSL_PARAM_construct_end();
  if (seal) {
    memcpy(name, k->name, sizeof k->name);
    if (RAND_bytes(iv, 16) <= 0) return -1;
    if (!EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), NULL, k->aes, iv) || !EVP_MAC_CTX_set_params(mac, params)) return -1;
    return 1;
  }
  if (memcmp(name, k->name, sizeof k->name) != 0) return 0;
  if (!EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), NULL, k->aes, iv) || !EVP_MAC_CTX_set_params(mac, params)) return -1;
  return 2;
}

/* ---- errors ----------------------------------------------------------------------- */

/* OpenSSL's reason for the last error ("wrong version number"), or `otherwise`. */
static const char *reason(const char *otherwise) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e == 0 ? NULL : ERR_reason_error_string(e);
  return r != NULL ? r : otherwise;
}

static napi_value throw_openssl(napi_env env, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, reason("unknown OpenSSL error"));
  ERR_clear_error();
  napi_throw_error(env, "FULCRUM_ERR_TLS", msg);
  return NULL;
}

/* ---- sessions (called by stream.c) ------------------------------------------------ */

/*
 * Set when, within one tls_recv, a read from the socket returned fewer bytes than OpenSSL
 * asked for (with read-ahead it asks for all its buffer has room for): the socket was
 * empty then, and bytes arriving later bring a new edge. tls_recv then stops without the
 * read that would only say EAGAIN (one system call per request on keep-alive traffic).
 */
static int g_drained;

static long on_bio(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret, size_t *processed) {
  if (oper == (BIO_CB_READ | BIO_CB_RETURN)) g_drained = ret > 0 && processed != NULL && *processed < len;
  return ret;
}

SSL *tls_accepting(uint32_t li, int fd, int *prelude, int *err) {
  *err = 0;
  tls_server_t *srv = li < MAX_LISTENERS ? g_listener[li] : NULL;
  if (srv == NULL) return NULL;
  SSL *ssl = SSL_new(srv->initial);
  if (ssl == NULL || !SSL_set_fd(ssl, fd)) {
    SSL_free(ssl);
    ERR_clear_error();
    *err = -ENOMEM;
    return NULL;
  }
  BIO_set_callback_ex(SSL_get_rbio(ssl), on_bio);
  srv->refs++;
  *prelude = srv->prelude;
  SSL_set_ex_data(ssl, g_server_index, srv);
  SSL_set_accept_state(ssl);
  return ssl;
}

int tls_handshake(SSL *ssl) {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    /* the server is needed no longer: a reload may free it now */
    tls_server_t *srv = SSL_get_ex_data(ssl, g_server_index);
    if (srv != NULL) {
      SSL_set_ex_data(ssl, g_server_index, NULL);
      server_unref(srv);
    }
    return TLS_DONE;
  }
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    default: return TLS_FAILED;
  }
}

char *tls_failure(SSL *ssl, int sys_errno) {
  const char *why;
  char buf[64];
  if (ERR_peek_last_error() != 0) why = reason("handshake failed");
  else if (sys_errno != 0) why = strerror_r(sys_errno, buf, sizeof buf);
  else why = "the client closed the connection during the handshake";
  ERR_clear_error();
  return strdup(why);
}

int tls_alpn(SSL *ssl) {
  const unsigned char *p;
  unsigned int n;
  SSL_get0_alpn_selected(ssl, &p, &n);
  if (n == 2 && memcmp(p, "h2", 2) == 0) return ALPN_CHOSE_H2;
  return n > 0 ? ALPN_CHOSE_HTTP1 : ALPN_CHOSE_NONE;
}

ssize_t tls_recv(SSL *ssl, char *buf, size_t n, int *more) {
  size_t got = 0;
  *more = 0;
  g_drained = 0;
  while (got < n) {
    size_t r;
    ERR_clear_error();
    if (SSL_read_ex(ssl, buf + got, n - got, &r)) {
      got += r;
      if (g_drained && !SSL_has_pending(ssl)) return (ssize_t)got; /* nothing more until the next edge */
      continue;
    }
    int e = SSL_get_error(ssl, 0), sys = errno;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (got > 0) return (ssize_t)got;
      errno = EAGAIN;
      return -1;
    }
    /* the end, or an error: after the bytes before it, on the next read */
    if (got > 0) {
      *more = 1;
      return (ssize_t)got;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL) {
      if (sys == 0) return 0;
      errno = sys;
      return -1;
    }
    ERR_clear_error();
    errno = EPROTO;
    return -1;
  }
  *more = 1;
  return (ssize_t)got;
}

ssize_t tls_send(SSL *ssl, const void *buf, size_t n) {
  size_t w = 0;
  ERR_clear_error();
  if (n == 0 || SSL_write_ex(ssl, buf, n, &w)) return (ssize_t)w;
  int e = SSL_get_error(ssl, 0), sys = errno;
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) errno = EAGAIN;
  else if (e == SSL_ERROR_SYSCALL && sys != 0) errno = sys;
  else errno = EPIPE;
  return -1;
}

int tls_pending(SSL *ssl) { return SSL_has_pending(ssl); }

void tls_close_notify(SSL *ssl) {
  ERR_clear_error();
  if (SSL_shutdown(ssl) < 0) ERR_clear_error();
}

void tls_free(SSL *ssl) { SSL_free(ssl); }

void tls_listener_reset(uint32_t li) {
  if (li >= MAX_LISTENERS || g_listener[li] == NULL) return;
  server_unref(g_listener[li]);
  g_listener[li] = NULL;
}

/* ---- functions for JavaScript ----------------------------------------------------- */

static char *string_arg(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  size_t n;
  napi_get_value_string_utf8(env, v, NULL, 0, &n);
  char *s = malloc(n + 1);
  if (s != NULL) napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

/* Puts the leaf, its chain and the key of PEM text on `ctx`; 0, or -1 with OpenSSL's error queue set. */
static int use_pem(SSL_CTX *ctx, const char *cert, const char *key) {
  BIO *b = BIO_new_mem_buf(cert, -1);
  X509 *x = b == NULL ? NULL : PEM_read_bio_X509(b, NULL, NULL, NULL);
  int ok = x != NULL && SSL_CTX_use_certificate(ctx, x);
  X509_free(x);
  while (ok) {
    X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (c == NULL) break;
    if (!SSL_CTX_add0_chain_cert(ctx, c)) {
      X509_free(c);
      ok = 0;
    }
  }
  BIO_free(b);
  if (!ok) return -1;
  ERR_clear_error(); /* the end of the chain */
  b = BIO_new_mem_buf(key, -1);
  EVP_PKEY *k = b == NULL ? NULL : PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  ok = k != NULL && SSL_CTX_use_PrivateKey(ctx, k) && SSL_CTX_check_private_key(ctx);
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

/*
 * tlsContext({cert, key, minVersion, cipherList, cipherSuites, ticketKeys, sessionTimeout,
 * sessionIdContext, h2}): a context's id. cert and key: PEM text (both null: a context
 * that refuses every handshake); ticketKeys: 48 bytes, or null for no tickets. Throws
 * an Error with OpenSSL's reason.
 */
static napi_value js_context(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value v;
#define FIELD(name) (napi_get_named_property(env, argv[0], name, &v) == napi_ok ? v : NULL)
  char *cert = string_arg(env, FIELD("cert")), *key = string_arg(env, FIELD("key"));
  char *list = string_arg(env, FIELD("cipherList")), *suites = string_arg(env, FIELD("cipherSuites"));
  char *sid = string_arg(env, FIELD("sessionIdContext")), *min = string_arg(env, FIELD("minVersion"));
  double timeout = arg_num(env, FIELD("sessionTimeout"));
  bool h2 = false;
  napi_get_value_bool(env, FIELD("h2"), &h2);
  void *keys = NULL;
  size_t keylen = 0;
  bool is_buffer = false;
  napi_value kv = FIELD("ticketKeys");
  if (kv != NULL && napi_is_buffer(env, kv, &is_buffer) == napi_ok && is_buffer) napi_get_buffer_info(env, kv, &keys, &keylen);
#undef FIELD
  napi_value result = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ticket_keys_t *tk = NULL;
  if (ctx == NULL) {
    throw_openssl(env, "cannot make a TLS context");
    goto out;
  }
  SSL_CTX_set_min_proto_version(ctx, min != NULL && strcmp(min, "TLSv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  /* as Node: no stateful session cache; resumption is by ticket */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  if (!SSL_CTX_set_ciphersuites(ctx, suites != NULL ? suites : "")) {
    throw_openssl(env, "TLS 1.3 cipher suites");
    goto out;
  }
  if (list != NULL && list[0] != 0 && !SSL_CTX_set_cipher_list(ctx, list)) {
    throw_openssl(env, "cipher list");
    goto out;
  }
  ERR_clear_error();
  if (sid != NULL) SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned int)(strlen(sid) > 32 ? 32 : strlen(sid)));
  if (timeout > 0) SSL_CTX_set_timeout(ctx, (long)timeout);
  if (cert != NULL && key != NULL && use_pem(ctx, cert, key) < 0) {
    throw_openssl(env, "the certificate and key");
    goto out;
  }
  SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, (void *)(h2 ? ALPN_H2 : ALPN_H1));
  if (keylen == TICKET_KEY_BYTES) {
    tk = malloc(sizeof *tk);
    if (tk == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      goto out;
    }
    memcpy(tk->name, keys, 16);
    memcpy(tk->hmac, (char *)keys + 16, 16);
    memcpy(tk->aes, (char *)keys + 32, 16);
    SSL_CTX_set_ex_data(ctx, g_keys_index, tk);
    tk = NULL;
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
    SSL_CTX_set_num_tickets(ctx, TLS13_TICKETS);
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  uint32_t slot;
  if (slot_add(&g_ctxs, ctx, &slot) < 0) {
    napi_throw_error(env, NULL, "out of memory");
    goto out;
  }
  result = num(env, slot_id(slot, g_ctxs.gens[slot]));
  ctx = NULL;
out:
  SSL_CTX_free(ctx);
  free(tk);
  if (key != NULL) OPENSSL_cleanse(key, strlen(key));
  free(cert);
  free(key);
  free(list);
  free(suites);
  free(sid);
  free(min);
  return result;
}

/* tlsContextFree(id): JavaScript's hold on a context ends (servers and sessions keep theirs). */
static napi_value js_context_free(napi_env env, napi_callback_info info) {
  ARGS(1);
  double id = arg_num(env, argv[0]);
  SSL_CTX *ctx = slot_by_id(&g_ctxs, id);
  if (ctx == NULL) return num(env, -EINVAL);
  slot_remove(&g_ctxs, (uint32_t)((uint64_t)id % MAX_SLOTS));
  SSL_CTX_free(ctx);
  return num(env, 0);
}

static SSL_CTX *ctx_ref(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return NULL;
  SSL_CTX *ctx = slot_by_id(&g_ctxs, arg_num(env, v));
  if (ctx != NULL) SSL_CTX_up_ref(ctx);
  return ctx;
}

/*
 * tlsServer(listener, initial, fallback, names, contexts, prelude): listener `listener`
 * (an index from listen()) terminates TLS from now on: handshakes start on context
 * `initial`, a ClientHello's name picks names[i] -> contexts[i] (exact, or
 * "*.example.com"), else `fallback` (null: refused). With `prelude`, each connection's
 * handshake waits for streamStartTls (a PROXY header first). Called again with new
 * contexts after a reload. 0 or -errno.
 */
static napi_value js_server(napi_env env, napi_callback_info info) {
  ARGS(6);
  double li = arg_num(env, argv[0]);
  if (!(li >= 0 && li < MAX_LISTENERS)) return num(env, -EINVAL);
  tls_server_t *srv = calloc(1, sizeof *srv);
  if (srv == NULL) return num(env, -ENOMEM);
  srv->refs = 1;
  bool prelude = false;
  if (argc > 5) napi_get_value_bool(env, argv[5], &prelude);
  srv->prelude = prelude;
  srv->initial = ctx_ref(env, argv[1]);
  srv->fallback = ctx_ref(env, argv[2]);
  uint32_t n = 0;
  napi_get_array_length(env, argv[3], &n);
  srv->entries = calloc(n == 0 ? 1 : n, sizeof *srv->entries);
  int bad = srv->initial == NULL || srv->entries == NULL;
  for (uint32_t i = 0; !bad && i < n; i++) {
    napi_value name, ctx;
    napi_get_element(env, argv[3], i, &name);
    napi_get_element(env, argv[4], i, &ctx);
    char *s = string_arg(env, name);
    SSL_CTX *c = ctx_ref(env, ctx);
    if (s == NULL || c == NULL) {
      free(s);
      SSL_CTX_free(c);
      bad = 1;
      break;
    }
    sni_entry_t *e = &srv->entries[srv->n++];
    e->wild = strncmp(s, "*.", 2) == 0;
    if (e->wild) memmove(s, s + 2, strlen(s) - 1);
    e->name = s;
    e->ctx = c;
  }
  if (bad) {
    server_unref(srv);
    return num(env, -EINVAL);
  }
  tls_listener_reset((uint32_t)li);
  g_listener[(uint32_t)li] = srv;
  return num(env, 0);
}

/*
 * streamTls(id): [server name or null, ALPN protocol or null, TLS version, cipher, why
 * the handshake failed or null] of a TLS stream; undefined for others.
 */
napi_value tls_describe(napi_env env, SSL *ssl, const char *why) {
  napi_value arr, v;
  napi_create_array_with_length(env, 5, &arr);
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const unsigned char *p;
  unsigned int n;
  SSL_get0_alpn_selected(ssl, &p, &n);
  const char *cipher = SSL_get_cipher_name(ssl);
  napi_value none;
  napi_get_null(env, &none);
  if (name != NULL) napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 0, name != NULL ? v : none);
  if (n > 0) napi_create_string_latin1(env, (const char *)p, n, &v);
  napi_set_element(env, arr, 1, n > 0 ? v : none);
  napi_create_string_utf8(env, SSL_get_version(ssl), NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 2, v);
  napi_create_string_utf8(env, cipher != NULL ? cipher : "", NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 3, v);
  if (why != NULL) napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 4, why != NULL ? v : none);
  return arr;
}

int tls_init(void) {
  g_keys_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_keys);
  g_server_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_server_data);
  return g_keys_index < 0 || g_server_index < 0 ? -ENOMEM : 0;
}

void tls_exports(napi_env env, napi_value exports) {
  const export_t fns[] = {{"tlsContext", js_context}, {"tlsContextFree", js_context_free}, {"tlsServer", js_server}};
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
