/*
 * Preloaded into wrk by the https benchmark (LD_PRELOAD) to say which TLS handshakes
 * wrk makes, and to choose whether it resumes.
 *
 * wrk keeps each connection's SSL object across reconnections (SSL_shutdown, then
 * SSL_clear), and SSL_clear keeps the last session, so by itself wrk offers the latest
 * ticket on every new connection: against a server that renews tickets, every handshake
 * after a connection's first is a resumption. With WRK_TLS_SESSIONS=none this library
 * drops the session before each handshake, so every one is a full handshake, as a new
 * visitor's is. WRK_TLS_SUITES, when set, is the TLS 1.3 suites wrk offers, in its order
 * (by default OpenSSL's: TLS_AES_256_GCM_SHA384 first; browsers offer
 * TLS_AES_128_GCM_SHA256 first). Either way it counts, and prints when wrk exits, on stderr:
 *
 *   wrk-tls-sessions: H handshakes, R resumed, V TLSv1.3, X X25519, C cpu-us, suite S, D other suites
 *
 * (C: wrk's own CPU time, user and system, in microseconds; S: the first handshake's
 * suite; D: handshakes with another suite.) Built by bench/https.ts:
 *   cc -O2 -shared -fPIC wrk-tls-sessions.c -o wrk-tls-sessions.so -ldl -lssl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/ssl.h>

static long g_total, g_resumed, g_v13, g_x25519, g_other_suite;
static const SSL_CIPHER *g_suite;

int SSL_connect(SSL *s) {
  static int (*real)(SSL *);
  static int fresh = -1;
  static const char *suites;
  if (real == NULL) real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
  if (fresh < 0) {
    const char *mode = getenv("WRK_TLS_SESSIONS");
    fresh = mode != NULL && strcmp(mode, "none") == 0;
    suites = getenv("WRK_TLS_SUITES");
  }
  if (SSL_in_before(s)) {
    if (fresh) SSL_set_session(s, NULL);
    if (suites != NULL && suites[0] != 0) SSL_set_ciphersuites(s, suites);
  }
  int r = real(s);
  if (r == 1) {
    g_total++;
    if (SSL_session_reused(s)) g_resumed++;
    if (SSL_version(s) == TLS1_3_VERSION) g_v13++;
    if (SSL_get_negotiated_group(s) == NID_X25519) g_x25519++;
    const SSL_CIPHER *c = SSL_get_current_cipher(s);
    if (g_suite == NULL) g_suite = c;
    else if (c != g_suite) g_other_suite++;
  }
  return r;
}

__attribute__((destructor)) static void report(void) {
  struct rusage ru;
  long cpu = 0;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  fprintf(stderr, "wrk-tls-sessions: %ld handshakes, %ld resumed, %ld TLSv1.3, %ld X25519, %ld cpu-us, suite %s, %ld other suites\n", g_total, g_resumed, g_v13, g_x25519, cpu,
          g_suite == NULL ? "none" : SSL_CIPHER_get_name(g_suite), g_other_suite);
}
