/*
 * The TLS floor for the https benchmark: a server that does nothing but TLS. One thread,
 * one epoll loop; it accepts, runs OpenSSL's handshake, answers every HTTP/1.1 request
 * head with a fixed `200 S1` (closing after it when the request says `Connection:
 * close`), and parses, routes and proxies nothing. What it costs per handshake is what
 * the crypto library and the kernel cost; a balancer can only add to that.
 *
 * Its context is set up as Fulcrum's (native/tls.c): TLS 1.2 and 1.3, OpenSSL's default
 * groups and TLS 1.3 suites, read-ahead, released buffers, no stateful session cache,
 * and tickets sealed with fixed keys and renewed on every resumption, so a client keeping
 * its latest session resumes every time, as with Fulcrum and HAProxy.
 *
 * The one source is built two ways (bench/lib/tls-floor.ts), to tell the crypto library
 * from the balancer:
 *   - as a program linked with the system's libssl (the one HAProxy uses):
 *       cc -O2 -DFLOOR_MAIN tls-floor.c -lssl -lcrypto -o tls-floor
 *       tls-floor PORT CERT KEY
 *   - as a Node addon, whose OpenSSL symbols come from the node binary (Node's own
 *     OpenSSL build, the one Fulcrum's addon uses); `serve` never returns:
 *       cc -O2 -shared -fPIC -DFLOOR_NAPI -I<node>/include/node tls-floor.c -o tls-floor.node
 *       node -e 'require("./tls-floor.node").serve(PORT, CERT, KEY)'
 * Either prints "tls-floor (OpenSSL x.y.z) listening on 127.0.0.1:PORT" on stderr when
 * ready and runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define MAX_FDS 65536
#define BUF 4096

static const char KEEP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nS1\n";
static const char CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nS1\n";

typedef struct {
  SSL *ssl;
  size_t have; /* bytes of an unfinished request head in buf */
  char buf[BUF];
} conn_t;

static conn_t *g_conns[MAX_FDS];
static unsigned char g_keys[48]; /* ticket key name, HMAC key, AES key, as native/tls.c */

static int on_ticket(SSL *ssl __attribute__((unused)), unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int seal) {
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, g_keys + 16, 16);
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0);
  params[2] = OSSL_PARAM_construct_end();
  if (seal) {
    memcpy(name, g_keys, 16);
    if (RAND_bytes(iv, 16) <= 0) return -1;
    if (!EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), NULL, g_keys + 32, iv) || !EVP_MAC_CTX_set_params(mac, params)) return -1;
    return 1;
  }
  if (memcmp(name, g_keys, 16) != 0) return 0;
  if (!EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), NULL, g_keys + 32, iv) || !EVP_MAC_CTX_set_params(mac, params)) return -1;
  return 2; /* valid: renew */
}

static SSL_CTX *make_context(const char *cert, const char *key) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) return NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  if (RAND_bytes(g_keys, sizeof g_keys) <= 0) return NULL;
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static void drop(int ep, int fd) {
  conn_t *c = g_conns[fd];
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  if (c != NULL) {
    SSL_free(c->ssl);
    free(c);
    g_conns[fd] = NULL;
  }
  close(fd);
}

/* Waits for what OpenSSL wants next (err: SSL_get_error), or drops the connection. */
static void want(int ep, int fd, int err) {
  struct epoll_event ev = {.data.fd = fd};
  if (err == SSL_ERROR_WANT_READ) ev.events = EPOLLIN;
  else if (err == SSL_ERROR_WANT_WRITE) ev.events = EPOLLOUT;
  else {
    ERR_clear_error();
    drop(ep, fd);
    return;
  }
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Case-insensitive search for "connection: close" in a request head. */
static int asks_close(const char *head, size_t n) {
  static const char pat[] = "\nconnection: close";
  const size_t m = sizeof pat - 1;
  for (size_t i = 0; i + m <= n; i++) {
    size_t j = 0;
    while (j < m && (head[i + j] | 0x20) == (pat[j] | 0x20)) j++;
    if (j == m) return 1;
  }
  return 0;
}

/* Runs the handshake, then answers each complete request head; a short write drops the connection (the answers are tiny). */
static void serve_conn(int ep, int fd) {
  conn_t *c = g_conns[fd];
  ERR_clear_error();
  if (!SSL_is_init_finished(c->ssl)) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      want(ep, fd, SSL_get_error(c->ssl, r));
      return;
    }
  }
  for (;;) {
    size_t got;
    if (!SSL_read_ex(c->ssl, c->buf + c->have, sizeof c->buf - c->have, &got)) {
      int e = SSL_get_error(c->ssl, 0);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) want(ep, fd, e);
      else drop(ep, fd);
      return;
    }
    c->have += got;
    char *end;
    while ((end = memmem(c->buf, c->have, "\r\n\r\n", 4)) != NULL) {
      size_t head = (size_t)(end - c->buf) + 4;
      size_t w;
      int close_after = asks_close(c->buf, head);
      const char *answer = close_after ? CLOSE : KEEP;
      size_t len = close_after ? sizeof CLOSE - 1 : sizeof KEEP - 1;
      if (!SSL_write_ex(c->ssl, answer, len, &w) || w != len) {
        drop(ep, fd);
        return;
      }
      if (close_after) {
        SSL_shutdown(c->ssl);
        drop(ep, fd);
        return;
      }
      memmove(c->buf, c->buf + head, c->have - head);
      c->have -= head;
    }
    if (c->have == sizeof c->buf) {
      drop(ep, fd);
      return;
    }
  }
}

static int serve(int port, const char *cert, const char *key) {
  signal(SIGPIPE, SIG_IGN); /* a write to a client gone is an error, not the end (Node ignores it already) */
  SSL_CTX *ctx = make_context(cert, key);
  if (ctx == NULL) {
    fprintf(stderr, "tls-floor: the certificate and key: %s\n", ERR_reason_error_string(ERR_get_error()));
    return 1;
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
    fprintf(stderr, "tls-floor: 127.0.0.1:%d: %s\n", port, strerror(errno));
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  fprintf(stderr, "tls-floor (%s) listening on 127.0.0.1:%d\n", OpenSSL_version(OPENSSL_VERSION), port);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd != lfd) {
        if (g_conns[fd] != NULL) serve_conn(ep, fd);
        continue;
      }
      int cfd;
      while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        conn_t *c = cfd < MAX_FDS ? malloc(sizeof *c) : NULL;
        SSL *ssl = c == NULL ? NULL : SSL_new(ctx);
        if (ssl == NULL || !SSL_set_fd(ssl, cfd)) {
          SSL_free(ssl);
          free(c);
          close(cfd);
          continue;
        }
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL_set_accept_state(ssl);
        c->ssl = ssl;
        c->have = 0;
        g_conns[cfd] = c;
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        serve_conn(ep, cfd); /* the ClientHello is often there already */
      }
    }
  }
}

#ifdef FLOOR_MAIN
int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: tls-floor PORT CERT KEY\n");
    return 2;
  }
  return serve(atoi(argv[1]), argv[2], argv[3]);
}
#endif

#ifdef FLOOR_NAPI
#define NAPI_VERSION 8
#include <node_api.h>

/* serve(port, certFile, keyFile): serves forever on this thread (returns only on a setup error, which it throws). */
static napi_value js_serve(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t port = 0;
  char cert[4096], key[4096];
  size_t n;
  napi_get_value_int32(env, argv[0], &port);
  napi_get_value_string_utf8(env, argv[1], cert, sizeof cert, &n);
  napi_get_value_string_utf8(env, argv[2], key, sizeof key, &n);
  serve(port, cert, key);
  napi_throw_error(env, NULL, "tls-floor could not start (see stderr)");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "serve", NAPI_AUTO_LENGTH, js_serve, NULL, &fn);
  napi_set_named_property(env, exports, "serve", fn);
  return exports;
}
#endif
