// bench:srtp — per-packet cost of opening SRTP AEAD_AES_128_GCM (RFC 7714) on receive, in ns:
// - baseline: receiver.c's path before replay protection (RFC 3711 Appendix A ROC guess, OpenSSL
//   EVP AES-GCM with the key schedule kept, only the IV set per packet);
// - ours: the same with receiver.c's 128-packet replay list (RFC 3711 §3.3.2);
// - libsrtp2: Debian's libsrtp2 srtp_unprotect (ROC estimate, replay database, AES-GCM), the
//   library issue 17 asked to prefer. Debian builds it on NSS, not OpenSSL.
// Best of three runs over 200,000 distinct packets (80-byte payload, the sequence number wraps);
// every packet must authenticate. `--json` prints one JSON line. Built against the system's
// OpenSSL (the addon uses the one node exports): the figures compare the paths, not the builds.
#include <openssl/evp.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 200000
#define PAYLOAD 80
#define W 128

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void header(uint8_t *h, uint16_t seq, uint32_t ts) {
  h[0] = 0x80; h[1] = 111; h[2] = seq >> 8; h[3] = seq;
  h[4] = ts >> 24; h[5] = ts >> 16; h[6] = ts >> 8; h[7] = ts;
  h[8] = 0; h[9] = 0; h[10] = 0x0a; h[11] = 0xbc;
}

typedef struct { uint32_t roc; uint16_t last; uint64_t seen[W]; } St;
static uint32_t guess(uint32_t roc, uint16_t sl, uint16_t seq) {
  if (sl < 0x8000) return (int)seq - (int)sl > 0x8000 ? roc - 1 : roc;
  return (int)sl - 0x8000 > (int)seq ? roc + 1 : roc;
}

static int gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t *salt, const uint8_t *pkt, size_t len, uint32_t roc, uint8_t *out) {
  uint8_t iv[12] = {0, 0, pkt[8], pkt[9], pkt[10], pkt[11], roc >> 24, roc >> 16, roc >> 8, roc, pkt[2], pkt[3]};
  for (int i = 0; i < 12; i++) iv[i] ^= salt[i];
  size_t cl = len - 12 - 16; int n, fin;
  memcpy(out, pkt, 12);
  if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(pkt + len - 16)) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &n, pkt, 12) != 1 ||
      EVP_DecryptUpdate(ctx, out + 12, &n, pkt + 12, (int)cl) != 1) return -1;
  return EVP_DecryptFinal_ex(ctx, out + 12 + cl, &fin) == 1;
}

int main(int argc, char **argv) {
  int json = argc > 1 && strcmp(argv[1], "--json") == 0;
  uint8_t key[16], salt[12], master[30];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < 12; i++) salt[i] = (uint8_t)(i * 13 + 5);
  for (int i = 0; i < 30; i++) master[i] = (uint8_t)(i * 11 + 3);
  uint8_t payload[PAYLOAD];
  for (int i = 0; i < PAYLOAD; i++) payload[i] = (uint8_t)i;
  size_t len = 12 + PAYLOAD + 16;
  uint8_t *ours = malloc(N * len), *theirs = malloc(N * (len + 16)), out[256];
  int theirs_len[N];

  // Ours: seal N packets (index from ROC 3, seq 0xff00: wraps once).
  EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(enc, EVP_aes_128_gcm(), NULL, key, NULL);
  EVP_DecryptInit_ex(dec, EVP_aes_128_gcm(), NULL, key, NULL);
  uint64_t first = 3ull * 65536 + 0xff00;
  for (int k = 0; k < N; k++) {
    uint64_t idx = first + k; uint16_t seq = idx & 0xffff; uint32_t roc = idx >> 16;
    uint8_t *p = ours + k * len; header(p, seq, k * 960);
    uint8_t iv[12] = {0, 0, p[8], p[9], p[10], p[11], roc >> 24, roc >> 16, roc >> 8, roc, p[2], p[3]};
    for (int i = 0; i < 12; i++) iv[i] ^= salt[i];
    int n, fin;
    EVP_EncryptInit_ex(enc, NULL, NULL, NULL, iv);
    EVP_EncryptUpdate(enc, NULL, &n, p, 12);
    EVP_EncryptUpdate(enc, p + 12, &n, payload, PAYLOAD);
    EVP_EncryptFinal_ex(enc, p + 12 + PAYLOAD, &fin);
    EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_GCM_GET_TAG, 16, p + 12 + PAYLOAD);
  }

  // libsrtp2: protect N packets with a sender session, unprotect them with a receiver session.
  if (srtp_init() != srtp_err_status_ok) { fprintf(stderr, "srtp_init failed\n"); return 1; }
  srtp_policy_t pol; memset(&pol, 0, sizeof pol);
  srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
  srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
  pol.key = master; pol.window_size = 128; pol.allow_repeat_tx = 0;
  pol.ssrc.type = ssrc_any_outbound;
  srtp_t tx, rx;
  if (srtp_create(&tx, &pol) != srtp_err_status_ok) { fprintf(stderr, "srtp_create tx failed\n"); return 1; }
  pol.ssrc.type = ssrc_any_inbound;
  if (srtp_create(&rx, &pol) != srtp_err_status_ok) { fprintf(stderr, "srtp_create rx failed\n"); return 1; }
  for (int k = 0; k < N; k++) {
    uint8_t *p = theirs + k * (len + 16); header(p, (uint16_t)(first + k), k * 960);
    memcpy(p + 12, payload, PAYLOAD);
    int l = 12 + PAYLOAD;
    if (srtp_protect(tx, p, &l) != srtp_err_status_ok) { fprintf(stderr, "protect %d failed\n", k); return 1; }
    theirs_len[k] = l;
  }

  double best[3] = {1e9, 1e9, 1e9};
  for (int run = 0; run < 3; run++) {
    // (0) ours without the replay list (before this change).
    { St st = {3, 0xfeff}; double t = now(); int okc = 0;
      for (int k = 0; k < N; k++) {
        const uint8_t *p = ours + k * len; uint16_t seq = p[2] << 8 | p[3];
        uint32_t roc = guess(st.roc, st.last, seq);
        if (gcm_open(dec, salt, p, len, roc, out) == 1) { okc++;
          if (roc == st.roc ? seq > st.last : roc == st.roc + 1) { st.roc = roc; st.last = seq; } }
      }
      double d = (now() - t) / N * 1e9; if (okc != N) { fprintf(stderr, "ours: %d ok\n", okc); return 1; }
      if (d < best[0]) best[0] = d; }
    // (1) ours with the replay list (this change).
    { St st = {3, 0xfeff}; for (int i = 0; i < W; i++) st.seen[i] = UINT64_MAX;
      double t = now(); int okc = 0;
      for (int k = 0; k < N; k++) {
        const uint8_t *p = ours + k * len; uint16_t seq = p[2] << 8 | p[3];
        uint32_t roc = guess(st.roc, st.last, seq);
        uint64_t idx = (uint64_t)roc << 16 | seq, hi = (uint64_t)st.roc << 16 | st.last;
        if (idx <= hi && (hi - idx >= W || st.seen[idx % W] == idx)) continue;
        if (gcm_open(dec, salt, p, len, roc, out) == 1) { okc++;
          st.seen[idx % W] = idx; if (idx > hi) { st.roc = roc; st.last = seq; } }
      }
      double d = (now() - t) / N * 1e9; if (okc != N) { fprintf(stderr, "ours+replay: %d ok\n", okc); return 1; }
      if (d < best[1]) best[1] = d; }
    // (2) libsrtp2 srtp_unprotect (a fresh receiver session per run: its replay database).
    { srtp_t r; pol.ssrc.type = ssrc_any_inbound; srtp_create(&r, &pol);
      uint8_t *copy = malloc(N * (len + 16)); memcpy(copy, theirs, N * (len + 16));
      double t = now(); int okc = 0;
      for (int k = 0; k < N; k++) { int l = theirs_len[k]; if (srtp_unprotect(r, copy + k * (len + 16), &l) == srtp_err_status_ok) okc++; }
      double d = (now() - t) / N * 1e9; free(copy); srtp_dealloc(r);
      if (okc != N) { fprintf(stderr, "libsrtp2: %d ok\n", okc); return 1; }
      if (d < best[2]) best[2] = d; }
  }
  if (json)
    printf("{\"packets\":%d,\"payloadBytes\":%d,\"baselineNs\":%.1f,\"oursNs\":%.1f,"
           "\"libsrtp2Ns\":%.1f,\"oursRatio\":%.3f,\"libsrtp2Ratio\":%.3f}\n",
           N, PAYLOAD, best[0], best[1], best[2], best[1] / best[0], best[2] / best[0]);
  else
    printf("open one SRTP packet (%d packets, %d-byte payload, best of 3):\n"
           "  baseline (no replay list)  %6.0f ns\n"
           "  ours (128-packet list)     %6.0f ns  %.2fx baseline\n"
           "  %-26s %6.0f ns  %.2fx baseline\n",
           N, PAYLOAD, best[0], best[1], best[1] / best[0], srtp_get_version_string(), best[2],
           best[2] / best[0]);
  srtp_dealloc(tx); srtp_dealloc(rx); srtp_shutdown();
  return 0;
}
